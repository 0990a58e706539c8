// Package authres writes and reads Authentication-Results header fields
// (RFC 8601) for SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 9989 §9.1,
// with the policy.dmarc property of §9.2).
//
// Format builds the value authmilter adds; AuthservID finds the
// authserv-id of an existing field, so that fields forged with our id can
// be removed (RFC 8601 §5). The parser does not split on ";" blindly:
// comments may contain it.
//
// This package imports nothing else of authmilter; its result structs are
// plain values the caller fills in.
package authres
