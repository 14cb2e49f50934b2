// Package pushstream is the wire format of nginx-push-stream-module's
// subscribers: the channels path grammar ("/ch1.b3/ch2"), message, header
// and footer templates with their placeholders, the EventSource and
// WebSocket shapes the module gives them, control messages (ping, channel
// deleted, long-poll timeout), JSONP wrapping and padding by user agent.
//
// It knows nothing of HTTP handlers or stores: internal/server uses it to
// render what a push-stream location sends, byte for byte as the module
// does.
package pushstream
