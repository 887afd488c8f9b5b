; Definitions for chunking: @definition.<kind> on the node, @name on its name.
(class_definition
  name: (identifier) @name) @definition.class

(function_definition
  name: (identifier) @name) @definition.function
