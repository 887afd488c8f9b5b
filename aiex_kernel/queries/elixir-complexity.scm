; Decision points for cyclomatic complexity: each @branch adds one.
; if/unless/cond/case/with clauses are calls; each -> arm of case/cond counts.
(call
  target: (identifier) @_kw
  (#any-of? @_kw "if" "unless")) @branch

; each -> arm of case/cond/receive/with-else/rescue counts ...
(do_block (stab_clause) @branch)
(else_block (stab_clause) @branch)
(rescue_block (stab_clause) @branch)
(catch_block (stab_clause) @branch)
(after_block (stab_clause) @branch)

; ... but a fn's first clause is no decision: `fn x -> x end` adds nothing
(anonymous_function (stab_clause) . (stab_clause) @branch)

(binary_operator operator: ["and" "or" "&&" "||"]) @branch
