; Definitions for chunking: @definition.<kind> on the node, @name on its name.
(function_item
  name: (identifier) @name) @definition.function

(struct_item
  name: (type_identifier) @name) @definition.struct

(enum_item
  name: (type_identifier) @name) @definition.enum

(union_item
  name: (type_identifier) @name) @definition.struct

(trait_item
  name: (type_identifier) @name) @definition.trait

; impl Foo, impl<T> Foo<T>, impl Display for a::Foo: named after the type
(impl_item
  type: [
    (type_identifier) @name
    (generic_type type: (type_identifier) @name)
    (scoped_type_identifier name: (type_identifier) @name)
    (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
  ]) @definition.impl

; impl Trait for &Foo, &'a mut Foo<T>
(impl_item
  type: (reference_type
    type: [
      (type_identifier) @name
      (generic_type type: (type_identifier) @name)
      (scoped_type_identifier name: (type_identifier) @name)
    ])) @definition.impl

; impl Trait for i32, [T], (A, B), *const T, dyn Tr, fn(): named by the type's text
(impl_item
  type: [
    (primitive_type)
    (array_type)
    (tuple_type)
    (pointer_type)
    (function_type)
    (dynamic_type)
    (unit_type)
  ] @name) @definition.impl

(mod_item
  name: (identifier) @name
  body: (declaration_list)) @definition.module

(macro_definition
  name: (identifier) @name) @definition.macro
