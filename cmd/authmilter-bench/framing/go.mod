module github.com/authmilter/authmilter/cmd/authmilter-bench/framing

go 1.26.8

replace github.com/emersion/go-milter => ../../../milter/third_party/go-milter

require (
	github.com/d--j/go-milter v0.10.1
	github.com/emersion/go-milter v0.5.0
)

require (
	github.com/emersion/go-message v0.18.2 // indirect
	golang.org/x/text v0.28.0 // indirect
)
