; Decision points for cyclomatic complexity: each @branch adds one.
[
  (if)
  (elsif)
  (unless)
  (while)
  (until)
  (for)
  (when)
  (rescue)
  (conditional)
  (if_modifier)
  (unless_modifier)
  (while_modifier)
  (until_modifier)
] @branch

(binary operator: ["&&" "||" "and" "or"]) @branch
