// Package report models DMARC aggregate reports (RFC 9990): evaluation
// events, their aggregation into rows, the grouping of rows into one report
// per policy domain, period and policy configuration, the XML writer, the
// Report-ID, filename, Subject and MIME naming, and a lint for the rules
// the XML schema cannot express. It does no I/O; storage lives in
// report/store.
//
// Section numbers cite RFC 9990 unless another RFC is named.
package report
