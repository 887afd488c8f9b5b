; Definitions for chunking: @definition.<kind> on the node, @name on its name.
(call
  target: (identifier) @_kw
  (#any-of? @_kw "defmodule" "defprotocol")
  (arguments (alias) @name)) @definition.module

(call
  target: (identifier) @_kw
  (#eq? @_kw "defimpl")
  (arguments (alias) @name)) @definition.impl

; def f(x), def f(x) when guard, def f, def f(x), do: x
(call
  target: (identifier) @_kw
  (#any-of? @_kw "def" "defp" "defdelegate" "defguard" "defguardp")
  (arguments [
    (identifier) @name
    (call target: (identifier) @name)
    (binary_operator left: (call target: (identifier) @name))
    (binary_operator left: (identifier) @name)
  ])) @definition.function

(call
  target: (identifier) @_kw
  (#any-of? @_kw "defmacro" "defmacrop")
  (arguments [
    (identifier) @name
    (call target: (identifier) @name)
    (binary_operator left: (call target: (identifier) @name))
    (binary_operator left: (identifier) @name)
  ])) @definition.macro
