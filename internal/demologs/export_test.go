package demologs

// Field is the tests' dotted-path reader, for the external feeder tests.
var Field = field
