package tlspolicy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrNetstring: the peer sent something that is not a netstring, or one
// over the size limit.
var ErrNetstring = errors.New("tlspolicy: bad netstring")

// ReadNetstring reads one netstring "LEN:DATA," (socketmap_table(5)) of at
// most max data bytes. At a clean end of input before the first byte it
// returns io.EOF.
func ReadNetstring(r *bufio.Reader, max int) ([]byte, error) {
	n := 0
	for digits := 0; ; digits++ {
		c, err := r.ReadByte()
		if err != nil {
			if digits == 0 && err == io.EOF {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: length: %v", ErrNetstring, err)
		}
		if c == ':' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || digits >= 9 || (digits == 1 && n == 0) {
			return nil, fmt.Errorf("%w: bad length", ErrNetstring)
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrNetstring, n, max)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: data: %v", ErrNetstring, err)
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("%w: no comma after the data", ErrNetstring)
	}
	return buf[:n], nil
}

// AppendNetstring appends data as a netstring to dst.
func AppendNetstring(dst []byte, data string) []byte {
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	dst = append(dst, ':')
	dst = append(dst, data...)
	return append(dst, ',')
}
