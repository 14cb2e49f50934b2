// Package httpdate reads HTTP dates (RFC 9110 section 5.6.7), such as an
// If-Modified-Since value, without the general time parser for the form
// every client sends.
package httpdate

import (
	"net/http"
	"time"
)

// Parse returns the seconds since the Unix epoch of an HTTP date. The
// preferred form (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT") is read
// directly; the obsolete forms go to net/http's ParseTime. It accepts
// exactly what http.ParseTime accepts.
func Parse(s string) (int64, bool) {
	if sec, ok := parseFixdate(s); ok {
		return sec, true
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

// parseFixdate reads the 29 bytes of an IMF-fixdate, checking what
// time.Parse checks for http.TimeFormat: a known day and month name, the
// day within the month, hours, minutes and seconds in range. As in
// time.Parse, the day name is not compared with the date.
func parseFixdate(s string) (int64, bool) {
	if len(s) != len("Mon, 02 Jan 2006 15:04:05 GMT") ||
		s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
		s[19] != ':' || s[22] != ':' || s[25:] != " GMT" {
		return 0, false
	}
	switch s[:3] {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
	default:
		return 0, false
	}
	month := monthOf(s[8:11])
	day, ok1 := digits(s[5:7])
	year, ok2 := digits(s[12:16])
	hour, ok3 := digits(s[17:19])
	minute, ok4 := digits(s[20:22])
	sec, ok5 := digits(s[23:25])
	if month == 0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day {
		return 0, false // past the month's end: time.Date moved it on
	}
	return t.Unix(), true
}

// digits reads a run of decimal digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// monthOf returns the month a three-letter English name stands for, or 0.
func monthOf(s string) time.Month {
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}
