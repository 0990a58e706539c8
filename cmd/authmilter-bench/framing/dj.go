package main

import (
	"net"
	"time"

	djmilter "github.com/d--j/go-milter"
)

// djNull is the null milter on github.com/d--j/go-milter.
type djNull struct{ djmilter.NoOpMilter }

func (djNull) EndOfMessage(m djmilter.Modifier) (*djmilter.Response, error) {
	if err := m.AddHeader("Authentication-Results", arValue); err != nil {
		return nil, err
	}
	return djmilter.RespAccept, nil
}

func serveDJ(ln net.Listener, timeout time.Duration) error {
	s := djmilter.NewServer(
		djmilter.WithMilter(func() djmilter.Milter { return djNull{} }),
		djmilter.WithActions(djmilter.OptAddHeader),
		djmilter.WithProtocols(djmilter.OptNoReplies|djmilter.OptNoUnknown|djmilter.OptNoData|djmilter.OptHeaderLeadingSpace),
		djmilter.WithoutDefaultMacros(),
		djmilter.WithReadTimeout(timeout),
		djmilter.WithWriteTimeout(timeout),
	)
	return s.Serve(ln)
}
