// Package mime walks a message body as it streams and finds the MIME
// entities that carry signatures, without parsing anything else.
//
// The walker is line based and bounded: it knows each multipart's boundary
// from its header (RFC 2046 §5.1.1), numbers parts the way IMAP does
// (RFC 3501 §6.4.5, "TEXT" for the message's top level, as RFC 7281 uses it
// for body.smime-part), and hands a Handler the raw bytes it asks for:
// the first body part of a multipart/signed exactly as transmitted, MIME
// header included and the CRLF before the next delimiter excluded
// (RFC 1847 §2.1, RFC 8551 §3.5.3, RFC 3156 §5), and the bodies of the
// leaves it wants to keep, up to a size it chooses. A message whose top
// level is not multipart and that the Handler does not want costs one
// Content-Type parse; elsewhere runs of lines are passed on in one piece
// up to the next line that starts with "-", the only kind that can be a
// delimiter.
//
// The package also holds the result shape the signature verifiers share
// (Result, Status), shaped for Authentication-Results (RFC 8601, RFC 7281).
package mime
