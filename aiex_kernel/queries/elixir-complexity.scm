; Decision points for cyclomatic complexity: each @branch adds one.
; if/unless/cond/case/with clauses are calls; each -> arm of case/cond counts.
(call
  target: (identifier) @_kw
  (#any-of? @_kw "if" "unless")) @branch

(stab_clause) @branch

(binary_operator operator: ["and" "or" "&&" "||"]) @branch
