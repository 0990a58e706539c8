package main

import (
	"net"
	"time"

	milter "github.com/emersion/go-milter"
)

// emersionNull is the null milter on authmilter's patched go-milter.
type emersionNull struct{ milter.NoOpMilter }

func (emersionNull) Body(m *milter.Modifier) (milter.Response, error) {
	if err := m.AddHeader("Authentication-Results", arValue); err != nil {
		return nil, err
	}
	return milter.RespAccept, nil
}

func serveEmersion(ln net.Listener, timeout time.Duration) error {
	s := milter.Server{
		NewMilter: func() milter.Milter { return emersionNull{} },
		Actions:   milter.OptAddHeader,
		Protocol: milter.OptNoConnReply | milter.OptNoHeloReply | milter.OptNoMailReply |
			milter.OptNoRcptReply | milter.OptNoHeaderReply | milter.OptNoEOHReply |
			milter.OptNoBodyReply | milter.OptNoUnknown | milter.OptNoData | milter.OptHeaderLeadingSpace,
		NoHeaderMap:  true,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
	}
	return s.Serve(ln)
}
