// Package ids makes the shop's opaque identifiers: [New]("usr") returns
// "usr_" followed by 20 random base32 characters.
package ids
