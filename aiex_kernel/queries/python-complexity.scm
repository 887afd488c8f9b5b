; Decision points for cyclomatic complexity: each @branch adds one.
[
  (if_statement)
  (elif_clause)
  (for_statement)
  (while_statement)
  (except_clause)
  (conditional_expression)
  (boolean_operator)
  (case_clause)
  (for_in_clause)
  (if_clause)
  (assert_statement)
] @branch
