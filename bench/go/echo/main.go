// echo: the Go half of the echo benchmark (bench/NET.md). A TCP echo server on
// 127.0.0.1, one goroutine per connection: each reads up to 4 KiB and writes
// back what it read until EOF (an explicit loop, not io.Copy, which would
// splice(2) socket to socket). The libgmp half is bench/c/echo_server.c; both
// are driven by the same load generator (bench/go/echoclient).
//
// Usage: echo [port]   (default 0: an ephemeral port)
// Prints "PORT <n>" on stdout once listening, then serves until killed.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or the client reset
		}
	}
}

func main() {
	port := 0
	if len(os.Args) > 1 {
		p, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: bad port %q\n", os.Args[1])
			os.Exit(1)
		}
		port = p
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: listen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "echo: accept: %v\n", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
