package main

import (
	"reflect"
	"slices"
	"strings"
)

// reload reads the configuration again (SIGHUP) and applies all of it but
// the socket's keys (it is opened once: listen, socket_mode, socket_group)
// and [tls_policy] (its service is built once), which keep their running
// values with a warning naming them.
// A bad file, a resolver that cannot be built or a metrics address that
// cannot be bound refuses the whole reload: the running configuration
// stays. The resolver, with its cache and counters, is kept when [dns] did
// not change.
func (in *instance) reload() {
	cfg, err := configure(in.f)
	if err != nil {
		in.refuse(err)
		return
	}
	changed := changedKeys(in.cfg, cfg)
	var later []string
	for _, k := range []string{"listen", "socket_mode", "socket_group"} {
		if slices.Contains(changed, k) {
			later = append(later, k)
		}
	}
	cfg.Listen, cfg.SocketMode, cfg.SocketGroup = in.cfg.Listen, in.cfg.SocketMode, in.cfg.SocketGroup
	for _, k := range changed {
		if strings.HasPrefix(k, "tls_policy.") {
			later = append(later, k) // the TLS-policy service is built once
		}
	}
	cfg.TLSPolicy = in.cfg.TLSPolicy

	res := in.res
	if !reflect.DeepEqual(cfg.DNS, in.cfg.DNS) {
		res = nil // a new resolver, with an empty cache
	}
	res, ev, err := build(cfg, in.log, res)
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
	} else if web != nil && cfg.Metrics.Pprof != in.cfg.Metrics.Pprof {
		web.setHandler(in.obs.handler(cfg.Metrics.Pprof))
	}
	if err := in.srv.SetConfig(cfg.Milter); err != nil {
		if web != in.web {
			web.stop()
		}
		in.refuse(err)
		return
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
