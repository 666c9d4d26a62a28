// Package xproc runs named helper functions in a child process that is a
// re-execution of the current test (or benchmark) binary: the helper-process
// pattern. Cross-process tests and benchmarks register helpers, call Main
// from TestMain, and Start a child with inherited files.
//
// Lifetime: Register runs at init time; Main must be the first thing
// TestMain does. A started child is killed and reaped by the test's cleanup
// if the test has not waited for it.
//
// Concurrency: Register is not safe for concurrent use (init time only);
// Start may be called from concurrent tests.
package xproc
