; Definitions for chunking: @definition.<kind> on the node, @name on its name.
(function_declaration
  name: (identifier) @name) @definition.function

(method_declaration
  name: (field_identifier) @name) @definition.method

; type S struct {...}: the whole declaration (with `type`) is the chunk
((type_declaration
  (type_spec
    name: (type_identifier) @name
    type: (struct_type))) @definition.struct
  (#not-match? @definition.struct "^type[^A-Za-z_]*[(]"))

((type_declaration
  (type_spec
    name: (type_identifier) @name
    type: (interface_type))) @definition.interface
  (#not-match? @definition.interface "^type[^A-Za-z_]*[(]"))

; type ( A struct {...}; B interface {...} ): one chunk per spec
(type_declaration
  "("
  (type_spec
    name: (type_identifier) @name
    type: (struct_type)) @definition.struct)

(type_declaration
  "("
  (type_spec
    name: (type_identifier) @name
    type: (interface_type)) @definition.interface)
