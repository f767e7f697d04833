//! Timestamps written to JSON exactly as chrono writes them, only faster.
//!
//! chrono formats a timestamp one character at a time through `fmt::Write`, and `serde_json`
//! escapes each of those writes. The user schema carries four timestamps and answers every
//! `GET /api/users/me`, where that cost showed, so its fields are written here into a buffer
//! and handed over as one string. Years outside 0..=9999 are left to chrono.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the longest form.
const MAX_LEN: usize = 30;

/// Serializes a timestamp as chrono's `Serialize` would: RFC 3339 in UTC with `Z`, and as
/// many fractional digits (none, 3, 6 or 9) as the value needs.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buffer = [0u8; MAX_LEN];
    match write_rfc3339(at, &mut buffer) {
        Some(len) => {
            let text = std::str::from_utf8(&buffer[..len]).expect("only ASCII is written");
            serializer.serialize_str(text)
        }
        None => at.serialize(serializer),
    }
}

/// [`serialize`] for an optional timestamp; `None` is `null`.
pub fn serialize_optional<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// Writes the timestamp and returns its length, or `None` for a year of more or less than
/// four digits.
fn write_rfc3339(at: &DateTime<Utc>, buffer: &mut [u8; MAX_LEN]) -> Option<usize> {
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    // A leap second is kept in the nanoseconds; chrono shows it as second 60.
    let (mut second, mut nano) = (at.second(), at.nanosecond());
    if nano >= 1_000_000_000 {
        second += 1;
        nano -= 1_000_000_000;
    }

    let mut out = Output { buffer, len: 0 };
    out.digits(year, 4);
    out.byte(b'-');
    out.digits(at.month(), 2);
    out.byte(b'-');
    out.digits(at.day(), 2);
    out.byte(b'T');
    out.digits(at.hour(), 2);
    out.byte(b':');
    out.digits(at.minute(), 2);
    out.byte(b':');
    out.digits(second, 2);
    if nano != 0 {
        out.byte(b'.');
        if nano % 1_000_000 == 0 {
            out.digits(nano / 1_000_000, 3);
        } else if nano % 1_000 == 0 {
            out.digits(nano / 1_000, 6);
        } else {
            out.digits(nano, 9);
        }
    }
    out.byte(b'Z');
    Some(out.len)
}

struct Output<'a> {
    buffer: &'a mut [u8; MAX_LEN],
    len: usize,
}

impl Output<'_> {
    fn byte(&mut self, byte: u8) {
        self.buffer[self.len] = byte;
        self.len += 1;
    }

    /// Writes `value` in decimal, zero-padded to `width` digits.
    fn digits(&mut self, mut value: u32, width: usize) {
        for at in (self.len..self.len + width).rev() {
            self.buffer[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};

    use super::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "serialize_optional")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chronos {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn assert_same(at: DateTime<Utc>) {
        let ours = serde_json::to_string(&Ours {
            at,
            maybe: Some(at),
        });
        let chronos = serde_json::to_string(&Chronos {
            at,
            maybe: Some(at),
        });
        assert_eq!(ours.unwrap(), chronos.unwrap());
    }

    #[test]
    fn every_fraction_length_matches_chrono() {
        let base = Utc.with_ymd_and_hms(2026, 12, 4, 9, 5, 7).unwrap();
        let fractions = [
            0,
            1,
            10,
            999,
            1_000,
            123_456,
            1_000_000,
            30_000_000,
            123_456_789,
            987_654_000,
            999_999_999,
        ];
        for nanos in fractions {
            assert_same(base + Duration::nanoseconds(nanos));
        }
    }

    #[test]
    fn a_spread_of_dates_matches_chrono() {
        let mut at = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap();
        let step = Duration::seconds(86_399 * 367 + 1_234) + Duration::nanoseconds(7_654_321);
        while at.year() <= 9999 {
            assert_same(at);
            at += step;
        }
    }

    #[test]
    fn leap_seconds_and_years_beyond_four_digits_match_chrono() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        assert_same(leap);
        assert_same(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap());
        assert_same(Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap());

        let none = Ours {
            at: leap,
            maybe: None,
        };
        let chronos = Chronos {
            at: leap,
            maybe: None,
        };
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            serde_json::to_string(&chronos).unwrap()
        );
    }
}
