package codec_test

// Types for the tests, with msgp-generated methods in
// msgptypes_gen_test.go (msgp v1.6.5: msgp -file msgptypes.go -tests=false).

//msgp:tuple Point

// Point is encoded as an array (msgp's tuple form).
type Point struct {
	X, Y  int32
	Label string
}

// Shape is encoded as a map of field names, msgp's default.
type Shape struct {
	Name   string            `msg:"name"`
	Points []Point           `msg:"points"`
	Tags   map[string]string `msg:"tags"`
	Data   []byte            `msg:"data"`
	Next   *Shape            `msg:"next"`
}

// NotFoundError is an application error that names itself.
type NotFoundError struct {
	Key   string `msg:"key"`
	Shard int    `msg:"shard"`
}

// QuotaError is an application error registered by type.
type QuotaError struct {
	Used  int64 `msg:"used"`
	Limit int64 `msg:"limit"`
}
