package host

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// checkSum opens path and checks its SHA-256 against want (Config.Checksum);
// it returns the open file, read to its end.
func checkSum(path string, want []byte) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("host: hash %s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		f.Close()
		return nil, fmt.Errorf("host: checksum mismatch for %s: SHA-256 is %x, expected %x", path, got, want)
	}
	return f, nil
}
