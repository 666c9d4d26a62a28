package ringfloor

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	MaybeServe()
	os.Exit(m.Run())
}
