//! Deployment windows: whether now is inside one of an environment's weekly windows, and when
//! the next one opens. Pure (time is an argument), so the calendar arithmetic — time zones,
//! daylight saving, windows that cross midnight — is unit-tested.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::crd::environment::{DeploymentWindow, Weekday};

fn weekday(day: Weekday) -> jiff::civil::Weekday {
    use jiff::civil::Weekday as W;
    match day {
        Weekday::Monday => W::Monday,
        Weekday::Tuesday => W::Tuesday,
        Weekday::Wednesday => W::Wednesday,
        Weekday::Thursday => W::Thursday,
        Weekday::Friday => W::Friday,
        Weekday::Saturday => W::Saturday,
        Weekday::Sunday => W::Sunday,
    }
}

fn hh_mm(text: &str, field: &str, i: usize) -> Result<Time, String> {
    let (h, m) = text
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
        .ok_or_else(|| format!("spec.deploymentWindows[{i}].{field}: `{text}` is not HH:MM"))?;
    Time::new(h, m, 0, 0)
        .map_err(|_| format!("spec.deploymentWindows[{i}].{field}: `{text}` is not a time of day"))
}

/// One window's opening and closing on the day that starts on `date`.
fn span_on(
    date: Date,
    (start, end): (Time, Time),
    tz: &TimeZone,
) -> Result<(Timestamp, Timestamp), jiff::Error> {
    let opens = date.to_datetime(start).to_zoned(tz.clone())?.timestamp();
    let close_day = if end > start {
        date
    } else {
        date.checked_add(1.day())?
    };
    let closes = close_day.to_datetime(end).to_zoned(tz.clone())?.timestamp();
    Ok((opens, closes))
}

/// `None` when `now` is inside a window (or there are none); otherwise when the next one
/// opens. An unknown time zone or a malformed time is an error naming the field.
pub fn next_opening(
    windows: &[DeploymentWindow],
    now: Timestamp,
) -> Result<Option<Timestamp>, String> {
    if windows.is_empty() {
        return Ok(None);
    }
    let mut next: Option<Timestamp> = None;
    for (i, window) in windows.iter().enumerate() {
        let tz = TimeZone::get(&window.time_zone).map_err(|_| {
            format!(
                "spec.deploymentWindows[{i}].timeZone: unknown time zone `{}`: use an IANA name such as Europe/Amsterdam or UTC",
                window.time_zone
            )
        })?;
        let times = (
            hh_mm(&window.start, "start", i)?,
            hh_mm(&window.end, "end", i)?,
        );
        let today = now.to_zoned(tz.clone()).date();
        // Yesterday's opening may still be open (a window across midnight); then the next
        // eight days hold the next opening of every weekly window.
        for offset in -1..=8i64 {
            let date = today
                .checked_add(offset.days())
                .map_err(|e| format!("spec.deploymentWindows[{i}]: {e}"))?;
            if !window.days.iter().any(|d| weekday(*d) == date.weekday()) {
                continue;
            }
            let (opens, closes) = span_on(date, times, &tz)
                .map_err(|e| format!("spec.deploymentWindows[{i}]: {e}"))?;
            if opens <= now && now < closes {
                return Ok(None);
            }
            if opens > now && next.is_none_or(|n| opens < n) {
                next = Some(opens);
            }
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[Weekday], start: &str, end: &str, tz: &str) -> DeploymentWindow {
        DeploymentWindow {
            days: days.to_vec(),
            start: start.into(),
            end: end.into(),
            time_zone: tz.into(),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn inside_a_window_is_open_and_outside_names_the_next_opening() {
        // Saturdays 02:00–04:00 in Amsterdam (UTC+1 in December).
        let w = [window(
            &[Weekday::Saturday],
            "02:00",
            "04:00",
            "Europe/Amsterdam",
        )];
        // 2026-12-05 is a Saturday.
        assert_eq!(next_opening(&w, at("2026-12-05T01:30:00Z")), Ok(None));
        assert_eq!(
            next_opening(&w, at("2026-12-05T03:00:00Z")),
            Ok(Some(at("2026-12-12T01:00:00Z"))),
            "closed at 04:00 local: the next Saturday"
        );
        assert_eq!(
            next_opening(&w, at("2026-12-03T12:00:00Z")),
            Ok(Some(at("2026-12-05T01:00:00Z")))
        );
    }

    #[test]
    fn a_window_across_midnight_is_open_after_midnight() {
        // Fridays 22:00 until Saturday 02:00, UTC.
        let w = [window(&[Weekday::Friday], "22:00", "02:00", "UTC")];
        assert_eq!(next_opening(&w, at("2026-12-05T01:00:00Z")), Ok(None));
        assert_eq!(next_opening(&w, at("2026-12-04T23:00:00Z")), Ok(None));
        assert_eq!(
            next_opening(&w, at("2026-12-05T02:00:00Z")),
            Ok(Some(at("2026-12-11T22:00:00Z")))
        );
    }

    #[test]
    fn daylight_saving_moves_the_window_in_utc() {
        // Sundays 03:00–05:00 in New York: EDT (UTC-4) in July, EST (UTC-5) in December.
        let w = [window(
            &[Weekday::Sunday],
            "03:00",
            "05:00",
            "America/New_York",
        )];
        assert_eq!(
            next_opening(&w, at("2026-07-01T00:00:00Z")),
            Ok(Some(at("2026-07-05T07:00:00Z")))
        );
        assert_eq!(
            next_opening(&w, at("2026-12-01T00:00:00Z")),
            Ok(Some(at("2026-12-06T08:00:00Z")))
        );
    }

    #[test]
    fn the_earliest_of_several_windows_opens_next_and_no_windows_is_always_open() {
        let w = [
            window(&[Weekday::Monday], "09:00", "10:00", "UTC"),
            window(&[Weekday::Sunday], "09:00", "10:00", "UTC"),
        ];
        assert_eq!(
            next_opening(&w, at("2026-12-05T12:00:00Z")),
            Ok(Some(at("2026-12-06T09:00:00Z")))
        );
        assert_eq!(next_opening(&[], at("2026-12-05T12:00:00Z")), Ok(None));
    }

    #[test]
    fn an_unknown_time_zone_names_the_field() {
        let w = [window(&[Weekday::Monday], "09:00", "10:00", "Mars/Olympus")];
        let err = next_opening(&w, at("2026-12-05T12:00:00Z")).expect_err("refused");
        assert!(err.contains("spec.deploymentWindows[0].timeZone"), "{err}");
    }
}
