package main

import (
	"fmt"
	"time"
)

// validateFailure checks the failure_* keys of [reports].
func (r *ReportsConfig) validateFailure() error {
	switch {
	case r.FailureRatePerHour < 1:
		return fmt.Errorf("reports.failure_rate_per_hour: must be at least 1, got %d", r.FailureRatePerHour)
	case r.FailureMerge < 0 || r.FailureMerge > 7*24*time.Hour:
		return fmt.Errorf("reports.failure_merge: must be between 0 and 168h, got %s", r.FailureMerge)
	case r.FailureQueueLen < 1:
		return fmt.Errorf("reports.failure_queue_len: must be at least 1, got %d", r.FailureQueueLen)
	case r.FailureHeaderBytes < 1024 || r.FailureHeaderBytes > 1<<20:
		return fmt.Errorf("reports.failure_header_bytes: must be between 1024 and 1048576, got %d", r.FailureHeaderBytes)
	case r.FailureEnabled && !r.Enabled:
		return fmt.Errorf("reports.failure_enabled: needs reports.enabled (org_name, email and from are shared)")
	}
	return nil
}

// keepHeaderBytes is how much of each header the evaluation keeps for
// failure reports: none unless they are on.
func (r *ReportsConfig) keepHeaderBytes() int {
	if r.Enabled && r.FailureEnabled {
		return r.FailureHeaderBytes
	}
	return 0
}
