package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Indexes into what Fields returns: proc(5)'s field numbers less 3 (the
// pid and the command name come before).
const (
	State = 0
	Ppid  = 1
	Pgrp  = 2
	Utime = 11
	Stime = 12
)

// Fields returns the fields of /proc/<pid>/stat that follow the command
// name, at least Stime+1 of them.
func Fields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) <= Stime {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(f))
	}
	return f, nil
}

// Int is field k of f as an integer.
func Int(f []string, k int) (int64, error) { return strconv.ParseInt(f[k], 10, 64) }
