// Command authmilter is a milter that checks SPF, DKIM and DMARC for
// Postfix and Sendmail and adds an Authentication-Results header, and
// DKIM-signs the mail of its own users.
//
//	authmilter [flags]              run the daemon
//	authmilter check spf ...        evaluate SPF offline
//	authmilter check dkim ... [FILE]    verify the DKIM signatures of a message
//	authmilter check message ... [FILE] evaluate a message as the daemon would
//	authmilter check arc ... [FILE]     verify the ARC chain of a message
//	authmilter reports ...           DMARC aggregate reports: status, list, show, send, resend
//	authmilter tls-policy lookup DOMAIN  the TLS-policy answer for Postfix, and why
//	authmilter dkim keygen ...        make a DKIM signing key and print its TXT record
//	authmilter dkim check-keys ...    compare the configured signing keys with DNS
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches to a check subcommand or the daemon and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "reports" {
		return runReports(args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "dkim" {
		return runDKIM(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "tls-policy" {
		return runTLSPolicy(args[1:], stdout, stderr)
	}
	return runDaemon(args, stdout, stderr)
}

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	checks := map[string]func([]string, io.Reader, io.Writer, io.Writer) int{
		"spf":     checkSPF,
		"dkim":    checkDKIM,
		"message": checkMessage,
		"arc":     checkARC,
	}
	if len(args) == 0 || checks[args[0]] == nil {
		fmt.Fprint(stderr, usageText)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	return checks[args[0]](args[1:], stdin, stdout, stderr)
}
