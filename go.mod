module github.com/plexus-ipc/plexus

go 1.26
