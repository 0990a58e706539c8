package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Message is one corpus message as an MTA hands it to a milter.
type Message struct {
	Entry
	Headers []Field
	Body    []byte // CRLF line ends, dot-unstuffed
	Stream  int64  // when > 0: a generated body of this many bytes instead
	Size    int
}

// Field is one header field: the value keeps its leading whitespace and its
// folds as a bare LF followed by the continuation's whitespace, as Postfix
// sends it with SMFIP_HDR_LEADSPC.
type Field struct {
	Name, Value string
}

// Corpus is a loaded corpus.
type Corpus struct {
	Dir      string
	Zone     string
	Messages []*Message
}

// LoadCorpus reads a directory written by Generate.
func LoadCorpus(dir string) (*Corpus, error) {
	zone, err := os.ReadFile(filepath.Join(dir, "zone.txt"))
	if err != nil {
		return nil, err
	}
	js, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var entries []Entry
	if err := json.Unmarshal(js, &entries); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	c := &Corpus{Dir: dir, Zone: string(zone)}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.File))
		if err != nil {
			return nil, err
		}
		m := &Message{Entry: e, Size: len(raw)}
		m.Headers, m.Body = split(raw)
		c.Messages = append(c.Messages, m)
	}
	if len(c.Messages) == 0 {
		return nil, fmt.Errorf("bench: %s: empty corpus", dir)
	}
	return c, nil
}

// split cuts a CRLF message into header fields and body.
func split(raw []byte) ([]Field, []byte) {
	var fields []Field
	for len(raw) > 0 {
		i := bytes.Index(raw, []byte("\r\n"))
		if i < 0 {
			i = len(raw)
		}
		line := raw[:i]
		raw = raw[min(i+2, len(raw)):]
		if len(line) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].Value += "\n" + string(line)
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		fields = append(fields, Field{Name: string(name), Value: string(value)})
	}
	return fields, raw
}
