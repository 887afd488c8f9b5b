; Decision points for cyclomatic complexity: each @branch adds one.
[
  (if_expression)
  (for_expression)
  (while_expression)
  (loop_expression)
  (match_arm)
  (try_expression)
] @branch

(binary_expression operator: ["&&" "||"]) @branch
