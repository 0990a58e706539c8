package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestReadmeLinksResolve: every in-page link of README.md (the Contents
// list and the rest) leads to a heading, with GitHub's anchors: lower
// case, punctuation dropped, spaces as hyphens, -1, -2 for repeats.
func TestReadmeLinksResolve(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		a := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, strings.TrimSpace(strings.TrimLeft(line, "#")))
		for i, base := 1, a; anchors[a]; i++ {
			a = base + "-" + strconv.Itoa(i)
		}
		anchors[a] = true
	}
	links := regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(string(b), -1)
	if len(links) < 10 {
		t.Fatalf("only %d in-page links found", len(links))
	}
	for _, l := range links {
		if !anchors[l[1]] {
			t.Errorf("README.md links to #%s, which no heading has", l[1])
		}
	}
}
