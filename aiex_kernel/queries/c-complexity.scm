; Decision points for cyclomatic complexity: each @branch adds one.
[
  (if_statement)
  (for_statement)
  (while_statement)
  (do_statement)
  (conditional_expression)
] @branch

; case labels, not default:
(case_statement value: (_)) @branch

(binary_expression operator: ["&&" "||"]) @branch
