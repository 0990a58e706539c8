// Command framing serves the same null milter on two milter libraries, so
// that the load benchmark can compare what their framing costs: the patched
// github.com/emersion/go-milter v0.5.0 that authmilter uses
// (milter/third_party/go-milter) and github.com/d--j/go-milter, a maintained
// fork with read/write timeouts and modifications sent with the reply.
//
// Both negotiate what authmilter negotiates (no reply to any command but end
// of message, every header field and body chunk sent, leading spaces kept),
// add one Authentication-Results field at end of message and accept.
//
//	go run . -lib emersion -listen 127.0.0.1:18895
//	go run . -lib d--j -listen 127.0.0.1:18896
//
// It is its own module so that authmilter's go.mod does not depend on
// d--j/go-milter for a measurement; cmd/authmilter-bench/README.md has the
// figures and the commands.
package main

import (
	"flag"
	"log"
	"net"
	"time"
)

// arValue is the field body both milters add, as authmilter would.
const arValue = " mx.example; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com"

func main() {
	lib := flag.String("lib", "emersion", "milter library: emersion (authmilter's patched copy) or d--j")
	listen := flag.String("listen", "127.0.0.1:18895", "TCP address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	switch *lib {
	case "emersion":
		err = serveEmersion(ln, 30*time.Second)
	case "d--j":
		err = serveDJ(ln, 30*time.Second)
	default:
		log.Fatalf("unknown -lib %q (emersion or d--j)", *lib)
	}
	if err != nil {
		log.Fatal(err)
	}
}
