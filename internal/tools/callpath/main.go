package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// instrumented are the packages (relative to the module root) whose
// functions the recorder sees.
var instrumented = []string{
	".", "session", "transport", "transport/shmlink", "shm", "ring", "wire",
	"codec", "genrt", "internal/gen/kvtest",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "callpath:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	inline, err := inlinable(root)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "plexus-callpath-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := copyTree(root, tmp); err != nil {
		return err
	}
	for _, dir := range instrumented {
		if err := instrumentDir(filepath.Join(tmp, dir)); err != nil {
			return err
		}
	}
	if err := writeRecorder(tmp); err != nil {
		return err
	}
	out, err := goCmd(tmp, "test", "-count=1", "-run", "^TestCallPath$", "-v", "./"+recorderDir)
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return report(out, tmp, inline)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside a module")
	}
	return filepath.Dir(mod), nil
}

func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// inlinable lists the functions of the instrumented packages that the
// compiler can inline, as "file.go:Name" (methods as "file.go:(*T).Name").
func inlinable(root string) (map[string]bool, error) {
	args := []string{"build", "-gcflags=-m"}
	for _, d := range instrumented {
		args = append(args, "./"+d)
	}
	out, err := goCmd(root, args...)
	if err != nil {
		return nil, fmt.Errorf("go build -gcflags=-m: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`^(?:\./)?(\S+?\.go):\d+:\d+: can inline (\S+)`)
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if g := re.FindStringSubmatch(sc.Text()); g != nil {
			m[filepath.ToSlash(g[1])+":"+g[2]] = true
		}
	}
	return m, sc.Err()
}

// report prints the recorder's list, one line per function, then three
// counts: every function; those the compiler does not inline; and of
// those, the ones on the call path proper, which leaves out the encoding
// of values (package codec and the generated message types' methods): a
// value's encoding is its own concern, as protobuf's is to drpc.
func report(out []byte, tmp string, inline map[string]bool) error {
	var all, frames, path tally
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "CALLPATH ")
		if !ok {
			continue
		}
		fn, file, _ := strings.Cut(line, " ")
		rel, err := filepath.Rel(tmp, file)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		short := fn[strings.LastIndex(fn, "/")+1:]
		_, name, _ := strings.Cut(short, ".")
		all.add(rel)
		mark := ""
		switch {
		case inline[filepath.Base(rel)+":"+name] || inline[rel+":"+name]:
			mark = "  (inlined)"
		case isValueCodec(rel, name):
			frames.add(rel)
			mark = "  (value encoding)"
		default:
			frames.add(rel)
			path.add(rel)
			mark = fmt.Sprintf("  [%d]", path.n)
		}
		fmt.Printf("%3d  %-56s %s%s\n", all.n, short, rel, mark)
	}
	if all.n == 0 {
		return fmt.Errorf("the recorder saw no call:\n%s", out)
	}
	fmt.Printf("\n%s; %s not inlined; %s on the call path proper (numbered)\n", all, frames, path)
	return sc.Err()
}

type tally struct {
	n     int
	files map[string]bool
}

func (t *tally) add(file string) {
	if t.files == nil {
		t.files = map[string]bool{}
	}
	t.n++
	t.files[file] = true
}

func (t tally) String() string { return fmt.Sprintf("%d functions in %d files", t.n, len(t.files)) }

// isValueCodec reports whether a function encodes or decodes a value:
// package codec, or a method msgp or plexus gen wrote for a message type.
func isValueCodec(file, name string) bool {
	if strings.HasPrefix(file, "codec/") {
		return true
	}
	for _, m := range []string{").MarshalMsg", ").UnmarshalMsg", ").DecodePlexus", ").Msgsize", ").EncodeMsg", ").DecodeMsg"} {
		if strings.HasSuffix(name, m) {
			return true
		}
	}
	return false
}
