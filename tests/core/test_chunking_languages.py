"""The chunker on every other language: kinds, qualnames, lines, signatures, docs, complexity."""

import pytest

from aiex_kernel.core.chunking import chunk_source
from aiex_kernel.core.languages import LANGUAGES, get_query, language_for_path

TS = b"""/** Adds.
 * @param a first */
export function add(a: number, b: number): number {
  return a && b ? a : b;
}
export abstract class A<T> implements I {
  private m(x: number): void { if (x) {} }
}
interface I { m(): void }
enum E { A }
namespace N.M { function f() {} }
const C = () => 1;
"""

JS = b"""// Greets.
export function hello(name) {
  return `hi ${name}`;
}
class Widget extends Base {
  render() { return this.a || this.b; }
  static make() {}
}
const arrow = async (x) => { for (const y of x) {} };
var old = function () {};
"""

JSX = b"""export default function App() {
  return <div className="x">{items.map(i => <Item key={i} />)}</div>;
}
"""

GO = b"""package main

import "fmt"

// Server serves.
type Server struct {
	addr string
}

type Runner interface {
	Run() error
}

// Start starts
// the server.
func (s *Server) Start(port int) error {
	if port < 0 || port > 65535 {
		return fmt.Errorf("bad")
	}
	for i := 0; i < 3; i++ {
	}
	return nil
}

func main() {}
"""

RUST = b"""use std::fmt;

/// A point.
#[derive(Debug)]
pub struct Point { x: i32 }

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.x { 0 => write!(f, "o"), _ => write!(f, "x") }
    }
}

impl Point {
    /// New.
    pub fn new(x: i32) -> Self { if x > 0 && x < 9 { Point { x } } else { Point { x: 0 } } }
}

trait Shape { fn area(&self) -> f64; }
enum Color { Red }
mod inner { fn helper() {} }
macro_rules! sq { ($x:expr) => { $x * $x }; }
"""

JAVA = b"""package p;

/**
 * A calculator.
 */
@Deprecated
public class Calc extends Base {
    public Calc() {}

    /** Adds. */
    @Override
    public int add(int a, int b) {
        return a > 0 && b > 0 ? a + b : 0;
    }

    interface Op { int apply(int x); }
    enum Mode { FAST, SLOW }
    record Pair(int a, int b) {}
}
"""

ELIXIR = b'''defmodule MyApp.Math do
  @moduledoc """
  Math helpers.
  """

  @doc "Adds."
  def add(a, b), do: a + b

  defp check(x) when x > 0 do
    case x do
      1 -> :one
      _ -> :many
    end
  end

  defmacro twice(expr) do
    quote do: unquote(expr) * 2
  end
end
'''

C = b"""#include <stdio.h>

/* Adds two. */
static int *add(int a, int b) {
    if (a && b) return 0;
    return 0;
}

struct point { int x; };
typedef struct { int y; } vec;
enum color { RED };
int main(void) { for (;;) {} }
"""

RUBY = b"""# Utilities.
module Util
  # A greeter.
  class Greeter < Base
    # Says hi.
    def greet(name)
      return "x" if name.nil?
      name
    end

    def self.build
    end
  end
end
"""


def summary(src: bytes, path: str):
    r = chunk_source(src, path, complexity=True)
    assert not r.has_error, path
    return r, [(c.kind, c.qualname, c.start_line, c.end_line) for c in r.chunks[1:]], {
        c.qualname: c for c in r.chunks
    }, {c.qualname: cx for c, cx in zip(r.chunks, r.complexity)}


@pytest.mark.parametrize("path,language", [("a.ts", "typescript"), ("a.tsx", "tsx")])
def test_typescript_and_tsx(path, language):
    r, rows, by, cx = summary(TS, path)
    assert r.language == language
    assert rows == [
        ("function", "add", 3, 5), ("class", "A", 6, 8), ("method", "A.m", 7, 7), ("interface", "I", 9, 9),
        ("enum", "E", 10, 10), ("module", "N.M", 11, 11), ("function", "N.M.f", 11, 11), ("function", "C", 12, 12),
    ]
    assert by["add"].signature == "export function add(a: number, b: number): number"
    assert by["add"].docstring == "Adds.\n@param a first"
    assert by["A"].signature == "export abstract class A<T> implements I"
    assert cx["add"] == 3 and cx["A.m"] == 2


def test_javascript():
    _, rows, by, cx = summary(JS, "w.js")
    assert rows == [
        ("function", "hello", 2, 4), ("class", "Widget", 5, 8), ("method", "Widget.render", 6, 6),
        ("method", "Widget.make", 7, 7), ("function", "arrow", 9, 9), ("function", "old", 10, 10),
    ]
    assert by["hello"].docstring == "Greets." and by["hello"].signature == "export function hello(name)"
    assert cx["Widget.render"] == 2 and cx["arrow"] == 2


def test_jsx():
    _, rows, _, _ = summary(JSX, "App.jsx")
    assert rows == [("function", "App", 1, 3)]


def test_go():
    _, rows, by, cx = summary(GO, "main.go")
    assert rows == [("struct", "Server", 6, 8), ("interface", "Runner", 10, 12), ("method", "Start", 16, 23),
                    ("function", "main", 25, 25)]
    assert by["Start"].signature == "func (s *Server) Start(port int) error"
    assert by["Start"].docstring == "Start starts\nthe server."
    assert by["Server"].signature == "type Server struct" and by["Server"].docstring == "Server serves."
    assert cx["Start"] == 4


def test_rust():
    _, rows, by, cx = summary(RUST, "lib.rs")
    assert rows == [
        ("struct", "Point", 4, 5), ("impl", "Point", 7, 11), ("method", "Point.fmt", 8, 10),
        ("impl", "Point", 13, 16), ("method", "Point.new", 15, 15), ("trait", "Shape", 18, 18),
        ("enum", "Color", 19, 19), ("module", "inner", 20, 20), ("function", "inner.helper", 20, 20),
        ("macro", "sq", 21, 21),
    ]
    r, _, _, _ = summary(RUST, "lib.rs")
    struct = next(c for c in r.chunks if c.kind == "struct")
    assert struct.signature == "#[derive(Debug)]\npub struct Point"  # attributes belong to the item
    assert struct.docstring == "A point." and struct.start_line == 4
    assert by["Point.new"].signature == "pub fn new(x: i32) -> Self" and by["Point.new"].docstring == "New."
    assert cx["Point.fmt"] == 3 and cx["Point.new"] == 3


def test_java():
    _, rows, by, cx = summary(JAVA, "Calc.java")
    assert rows == [
        ("class", "Calc", 6, 19), ("method", "Calc.Calc", 8, 8), ("method", "Calc.add", 11, 14),
        ("interface", "Calc.Op", 16, 16), ("method", "Calc.Op.apply", 16, 16), ("enum", "Calc.Mode", 17, 17),
        ("class", "Calc.Pair", 18, 18),
    ]
    assert by["Calc"].docstring == "A calculator."
    assert by["Calc.add"].signature == "@Override\n    public int add(int a, int b)"
    assert by["Calc.add"].docstring == "Adds."
    assert cx["Calc.add"] == 3


def test_elixir():
    _, rows, by, cx = summary(ELIXIR, "lib/math.ex")
    assert rows == [
        ("module", "MyApp.Math", 1, 19), ("function", "MyApp.Math.add", 7, 7),
        ("function", "MyApp.Math.check", 9, 14), ("macro", "MyApp.Math.twice", 16, 18),
    ]
    assert by["MyApp.Math"].docstring == "Math helpers."
    assert by["MyApp.Math.add"].docstring == "Adds."
    assert by["MyApp.Math.check"].signature == "defp check(x) when x > 0"
    assert cx["MyApp.Math.check"] == 3  # two case arms
    assert by["lib/math"].kind == "module"


def test_c():
    _, rows, by, cx = summary(C, "a.c")
    assert rows == [("function", "add", 4, 7), ("struct", "point", 9, 9), ("struct", "vec", 10, 10),
                    ("enum", "color", 11, 11), ("function", "main", 12, 12)]
    assert by["add"].signature == "static int *add(int a, int b)" and by["add"].docstring == "Adds two."
    assert cx["add"] == 3 and cx["main"] == 2


def test_ruby():
    _, rows, by, cx = summary(RUBY, "util.rb")
    assert rows == [("module", "Util", 2, 14), ("class", "Util.Greeter", 4, 13),
                    ("method", "Util.Greeter.greet", 6, 9), ("method", "Util.Greeter.build", 11, 12)]
    assert by["Util.Greeter"].signature == "class Greeter < Base"
    assert [by[q].docstring for q in ("Util", "Util.Greeter", "Util.Greeter.greet")] == [
        "Utilities.", "A greeter.", "Says hi."]
    assert cx["Util.Greeter.greet"] == 2


def test_every_language_has_compiling_queries_and_extensions():
    for name, spec in LANGUAGES.items():
        assert get_query(name, "tags") is not None, name
        assert get_query(name, "complexity") is not None, name
        for ext in spec.extensions:
            assert language_for_path(f"x{ext.upper()}").name == name
    assert language_for_path("README.md") is None


def rows_of(src: bytes, path: str):
    r = chunk_source(src, path, complexity=True)
    assert not r.has_error, path
    by = {c.qualname: c for c in r.chunks}
    cx = {c.qualname: v for c, v in zip(r.chunks, r.complexity)}
    return [(c.kind, c.qualname, c.start_line, c.end_line) for c in r.chunks[1:]], by, cx


def test_go_grouped_type_declarations_give_one_chunk_per_type():
    src = b"""package m

type (
	// A holds x.
	A struct{ x int }
	B interface{ M() }
)

type C struct{}
"""
    rows, by, _ = rows_of(src, "g.go")
    assert rows == [("struct", "A", 5, 5), ("interface", "B", 6, 6), ("struct", "C", 9, 9)]
    assert by["A"].docstring == "A holds x." and by["A"].signature == "A struct"
    assert by["C"].signature == "type C struct"  # a one-liner's signature stops at its body


def test_rust_impl_for_references_and_other_types():
    src = b"impl Foo for &Bar { fn a(&self) {} }\nimpl<'a> Tr for &'a mut Baz<T> {}\nimpl Tr for [u8] {}\nimpl Tr for i32 {}\n"
    rows, _, _ = rows_of(src, "x.rs")
    assert rows == [("impl", "Bar", 1, 1), ("method", "Bar.a", 1, 1), ("impl", "Baz", 2, 2), ("impl", "[u8]", 3, 3),
                    ("impl", "i32", 4, 4)]


TS_CLASS = b"""@Component({selector: 'x'})
export class Cmp {
  @Input() name: string;

  /** Clicks. */
  @HostListener('click')
  onClick(e: Event) { if (e) {} }

  handle = (e: Event): void => { if (e && this.name) {} };
}
declare module "lib" {
  function g(): void;
}
"""


@pytest.mark.parametrize("path", ["c.ts", "c.tsx"])
def test_typescript_decorators_fields_and_ambient_modules(path):
    rows, by, cx = rows_of(TS_CLASS, path)
    assert rows == [("class", "Cmp", 1, 10), ("method", "Cmp.onClick", 6, 7), ("method", "Cmp.handle", 9, 9),
                    ("module", "lib", 11, 13)]
    # a member's decorators are its siblings in TypeScript: the chunk starts at them
    assert by["Cmp.onClick"].signature == "@HostListener('click')\n  onClick(e: Event)"
    assert by["Cmp.onClick"].docstring == "Clicks."
    assert by["Cmp.handle"].signature == "handle = (e: Event): void =>"
    assert by["lib"].signature == 'declare module "lib"'
    assert cx["Cmp.onClick"] == 2 and cx["Cmp.handle"] == 3


def test_javascript_class_fields_and_arrow_signatures():
    src = b"class A {\n  onClick = (e) => { if (e) {} };\n}\nconst one = () => 1;\n"
    rows, by, cx = rows_of(src, "a.js")
    assert rows == [("class", "A", 1, 3), ("method", "A.onClick", 2, 2), ("function", "one", 4, 4)]
    assert by["A.onClick"].signature == "onClick = (e) =>" and by["one"].signature == "const one = () =>"
    assert cx["A.onClick"] == 2


def test_trailing_comment_is_not_a_doc_comment():
    rows, by, _ = rows_of(b"int x = 1; // the count\nint f(void) { return x; }\n", "t.c")
    assert by["f"].docstring == ""
    _, by, _ = rows_of(b"let x = 1; // no\n// yes\nfunction f() {}\n", "t.js")
    assert by["f"].docstring == "yes"


def test_switch_default_is_no_decision_point():
    _, _, cx = rows_of(b"int f(int x) { switch (x) { case 1: return 1; case 2: return 2; default: return 0; } }\n",
                       "s.c")
    assert cx["f"] == 3
    java = b"class A { int f(int x) { return switch (x) { case 1 -> 1; default -> 0; }; } }\n"
    _, _, cx = rows_of(java, "A.java")
    assert cx["A.f"] == 2


def test_elixir_anonymous_functions_and_one_line_macros():
    src = b"""defmodule M do
  def f(xs) do
    Enum.map(xs, fn x -> x end)
  end

  def g(xs), do: Enum.map(xs, fn 0 -> :zero; n -> n end)
  defmacro m, do: 1
end
"""
    rows, _, cx = rows_of(src, "m.ex")
    assert rows == [("module", "M", 1, 8), ("function", "M.f", 2, 4), ("function", "M.g", 6, 6), ("macro", "M.m", 7, 7)]
    assert cx["M.f"] == 1  # a one-clause fn decides nothing
    assert cx["M.g"] == 2  # a second clause does


def test_minified_signature_is_capped():
    from aiex_kernel.core.chunking import MAX_SIGNATURE_CHARS

    src = b"var e={" + b",".join(b"k%d:%d" % (i, i) for i in range(300)) + b"},z=function(){return 1};\n"
    (chunk,) = chunk_source(src, "min.js").chunks[1:]
    assert len(chunk.signature) == MAX_SIGNATURE_CHARS and chunk.signature.endswith("…")
    assert chunk.signature.startswith("var e={k0:0,k1:1")
