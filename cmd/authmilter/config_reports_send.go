package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/report/send"
)

// SendingConfig are the [reports] keys of sending: the SMTP relay's TLS
// and AUTH, DKIM signing, and the sender's limits.
type SendingConfig struct {
	// SendInterval is how often the daemon builds and sends the reports
	// that are due; 0 leaves it to "authmilter reports send" (a timer).
	SendInterval time.Duration `toml:"send_interval"`
	SMTPStartTLS string        `toml:"smtp_starttls"` // off | auto | required
	SMTPUsername string        `toml:"smtp_username"`
	// SMTPPasswordFile holds the AUTH password (its first line), so that
	// the configuration file needs no secret.
	SMTPPasswordFile string        `toml:"smtp_password_file"`
	SMTPTimeout      time.Duration `toml:"smtp_timeout"`
	// DKIMKey is a PEM private key (RSA >= 1024 bits, or Ed25519) that
	// signs report mail with d=DKIMDomain (default: the domain of from)
	// and s=DKIMSelector.
	DKIMKey      string `toml:"dkim_key"`
	DKIMSelector string `toml:"dkim_selector"`
	DKIMDomain   string `toml:"dkim_domain"`
	// DailyCap is the most reports one address gets per UTC day.
	DailyCap    int           `toml:"daily_cap"`
	RetryMin    time.Duration `toml:"retry_min"`
	RetryMax    time.Duration `toml:"retry_max"`
	MaxAttempts int           `toml:"max_attempts"`
	SuppressFor time.Duration `toml:"suppress_for"`
}

func defaultSending() SendingConfig {
	return SendingConfig{
		SendInterval: 5 * time.Minute,
		SMTPStartTLS: string(send.StartTLSAuto),
		SMTPTimeout:  2 * time.Minute,
		DailyCap:     1000,
		RetryMin:     15 * time.Minute,
		RetryMax:     12 * time.Hour,
		MaxAttempts:  10,
		SuppressFor:  7 * 24 * time.Hour,
	}
}

func (c *SendingConfig) validate() error {
	switch {
	case c.SendInterval < 0:
		return fmt.Errorf("reports.send_interval: must not be negative (0: the daemon does not send), got %s", c.SendInterval)
	case !send.StartTLS(c.SMTPStartTLS).Valid():
		return fmt.Errorf("reports.smtp_starttls: must be \"off\", \"auto\" or \"required\", got %q", c.SMTPStartTLS)
	case c.SMTPUsername != "" && c.SMTPPasswordFile == "":
		return fmt.Errorf("reports.smtp_password_file: required with reports.smtp_username")
	case c.SMTPPasswordFile != "" && !strings.HasPrefix(c.SMTPPasswordFile, "/"):
		return fmt.Errorf("reports.smtp_password_file: must be an absolute path, got %q", c.SMTPPasswordFile)
	case c.SMTPTimeout <= 0:
		return fmt.Errorf("reports.smtp_timeout: must be positive, got %s", c.SMTPTimeout)
	case c.DKIMKey != "" && !strings.HasPrefix(c.DKIMKey, "/"):
		return fmt.Errorf("reports.dkim_key: must be an absolute path, got %q", c.DKIMKey)
	case c.DKIMKey != "" && c.DKIMSelector == "":
		return fmt.Errorf("reports.dkim_selector: required with reports.dkim_key")
	case c.DailyCap < 0:
		return fmt.Errorf("reports.daily_cap: must not be negative (0: no cap), got %d", c.DailyCap)
	case c.RetryMin <= 0:
		return fmt.Errorf("reports.retry_min: must be positive, got %s", c.RetryMin)
	case c.RetryMax < c.RetryMin:
		return fmt.Errorf("reports.retry_max: must be at least reports.retry_min (%s), got %s", c.RetryMin, c.RetryMax)
	case c.MaxAttempts < 1:
		return fmt.Errorf("reports.max_attempts: must be at least 1, got %d", c.MaxAttempts)
	case c.SuppressFor < 0:
		return fmt.Errorf("reports.suppress_for: must not be negative, got %s", c.SuppressFor)
	}
	return nil
}

// mailer is the SMTP mailer of [reports]; the password file is read
// here.
func (r *ReportsConfig) mailer() (*send.SMTP, error) {
	m := &send.SMTP{Addr: r.SMTP, StartTLS: send.StartTLS(r.SMTPStartTLS), Username: r.SMTPUsername, Timeout: r.SMTPTimeout}
	if r.SMTPPasswordFile != "" {
		b, err := os.ReadFile(r.SMTPPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("reports.smtp_password_file: %w", err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		m.Password = strings.TrimSuffix(pw, "\r")
	}
	return m, nil
}

// signOptions loads reports.dkim_key; no keys when it is "".
func (r *ReportsConfig) signOptions() (dkim.SignOptions, error) {
	if r.DKIMKey == "" {
		return dkim.SignOptions{}, nil
	}
	key, err := dkim.LoadSigningKey(r.DKIMKey)
	if err != nil {
		return dkim.SignOptions{}, fmt.Errorf("reports.dkim_key: %w", err)
	}
	domain := r.DKIMDomain
	if domain == "" {
		_, domain, _ = strings.Cut(r.from(), "@")
	}
	opts := dkim.SignOptions{Keys: []dkim.SignKey{{Domain: strings.ToLower(domain), Selector: r.DKIMSelector, Key: key}}}
	if _, err := dkim.NewSigner(opts); err != nil {
		return dkim.SignOptions{}, fmt.Errorf("reports.dkim_key: %w", err)
	}
	return opts, nil
}
