; Decision points for cyclomatic complexity: each @branch adds one.
[
  (if_statement)
  (for_statement)
  (expression_case)
  (type_case)
  (communication_case)
] @branch

(binary_expression operator: ["&&" "||"]) @branch
