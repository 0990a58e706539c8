package main

import (
	"reflect"
	"strings"
)

// reload reads the configuration again (SIGHUP) and applies all of it but
// the socket's keys (it is opened once: listen, socket_mode, socket_group)
// and [reports] (the report store and aggregator, likewise) and
// [tls_policy] (its service is built once), which keep their running
// values with a warning naming them. Pending report counts are flushed
// first.
// A bad file, a resolver that cannot be built or a metrics address that
// cannot be bound refuses the whole reload: the running configuration
// stays. The resolver, with its cache and counters, is kept when [dns] did
// not change.
func (in *instance) reload() {
	if in.rep != nil {
		if err := in.rep.flush(in.cfg.ShutdownTimeout); err != nil {
			in.log.Warn("reports: flush before reload failed; counts kept", "err", err)
		}
	}
	cfg, err := configure(in.f)
	if err != nil {
		in.refuse(err)
		return
	}
	changed := changedKeys(in.cfg, cfg)
	var later []string
	for _, k := range changed {
		if k == "listen" || k == "socket_mode" || k == "socket_group" ||
			strings.HasPrefix(k, "reports.") || strings.HasPrefix(k, "tls_policy.") {
			later = append(later, k)
		}
	}
	cfg.Listen, cfg.SocketMode, cfg.SocketGroup = in.cfg.Listen, in.cfg.SocketMode, in.cfg.SocketGroup
	cfg.Reports = in.cfg.Reports     // the store and the aggregator are opened once
	cfg.TLSPolicy = in.cfg.TLSPolicy // the TLS-policy service is built once

	res := in.res
	if !reflect.DeepEqual(cfg.DNS, in.cfg.DNS) {
		res = nil // a new resolver, with an empty cache
		if in.cfg.Reports.Enabled {
			// The report sender and the failure reports were given the
			// resolver at start.
			later = append(later, "dns (for [reports]' destination checks and SPF-DNS)")
		}
	}
	res, ev, err := build(cfg, in.log, res, in.workers.Go)
	if err != nil {
		in.refuse(err)
		return
	}
	web := in.web
	if cfg.Metrics.Listen != web.address() {
		if web, err = listenEndpoint(cfg.Metrics.Listen, in.obs.handler(cfg.Metrics.Pprof)); err != nil {
			in.refuse(err)
			return
		}
	}
	if err := in.srv.SetConfig(cfg.Milter); err != nil {
		if web != in.web {
			web.stop()
		}
		in.refuse(err)
		return
	}
	if web == in.web && web != nil && cfg.Metrics.Pprof != in.cfg.Metrics.Pprof {
		// Same address: the handler changes only once nothing can refuse.
		web.setHandler(in.obs.handler(cfg.Metrics.Pprof))
	}

	in.out.set(cfg.Log)
	in.obs.setResolver(res)
	in.srv.SetEvaluator(ev)
	if web != in.web {
		in.web.stop()
		web.start(in.log)
		in.web = web
	}
	in.cfg = cfg
	in.obs.reloaded("applied")
	in.log.Info("configuration reloaded", "changed", changed, "dns_cache_kept", res == in.res, authservIDAttr(ev.Config()))
	in.res = res
	if len(later) > 0 {
		in.log.Warn("reload: these keys take effect only at a restart; their running values stay", "keys", later)
	}
}

func (in *instance) refuse(err error) {
	in.obs.reloaded("refused")
	in.log.Error("reload refused; keeping the running configuration", "err", err)
}

// changedKeys lists the TOML keys whose values differ between a and b (an
// empty list and a missing one are equal).
func changedKeys(a, b Config) []string {
	var keys []string
	diffKeys(reflect.ValueOf(a), reflect.ValueOf(b), "", &keys)
	return keys
}

func diffKeys(a, b reflect.Value, prefix string, keys *[]string) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		switch {
		case !f.IsExported():
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			diffKeys(a.Field(i), b.Field(i), prefix, keys)
		case name == "" || name == "-":
		case f.Type.Kind() == reflect.Struct:
			diffKeys(a.Field(i), b.Field(i), prefix+name+".", keys)
		case f.Type.Kind() == reflect.Slice && a.Field(i).Len() == 0 && b.Field(i).Len() == 0:
		case !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()):
			*keys = append(*keys, prefix+name)
		}
	}
}
