//! `date_time`, from one `date` run: now, January 1st and July 1st (local fields; the UTC forms
//! are computed from the epoch).

use serde_json::{Map, Value, json};

use super::FactError;
use super::frame::Probe;

/// One `date` line: `%Y %m %d %H %M %S %N %s %A %w %W %z %Z`.
struct Line<'a> {
    f: Vec<&'a str>,
}

impl<'a> Line<'a> {
    fn parse(line: &'a str) -> Result<Self, FactError> {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 || f[..8].iter().any(|s| s.parse::<u64>().is_err()) {
            return Err(FactError::new(
                "date_time",
                format!("unexpected `date` line {line:?}"),
            ));
        }
        Ok(Line { f })
    }
    fn offset_minutes(&self) -> i64 {
        let z = self.f[11];
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let digits = z.trim_start_matches(['+', '-']);
        let n: i64 = digits.parse().unwrap_or(0);
        sign * (n / 100 * 60 + n % 100)
    }
}

pub fn date_time(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let text = p
        .ok_cmd("date")
        .ok_or_else(|| FactError::new("date_time", "`date` failed"))?;
    let mut lines = text.lines();
    let now = Line::parse(lines.next().unwrap_or(""))?;
    let f = &now.f;
    // The summer-time name: of January and July, the one further east of UTC.
    let tz_dst = match (lines.next().map(Line::parse), lines.next().map(Line::parse)) {
        (Some(Ok(jan)), Some(Ok(jul))) if jul.offset_minutes() >= jan.offset_minutes() => {
            jul.f[12].to_owned()
        }
        (Some(Ok(jan)), Some(Ok(_))) => jan.f[12].to_owned(),
        _ => f[12].to_owned(),
    };
    let epoch: i64 = f[7].parse().unwrap_or(0);
    let micros = &f[6][..6.min(f[6].len())];
    let (y, mo, d, h, mi, s) = utc(epoch);
    let utc_base = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    let dt = json!({
        "year": f[0], "month": f[1], "day": f[2], "hour": f[3], "minute": f[4], "second": f[5],
        "epoch": f[7], "epoch_int": f[7], "weekday": f[8], "weekday_number": f[9],
        "weeknumber": f[10], "tz_offset": f[11], "tz": f[12], "tz_dst": tz_dst,
        "date": format!("{}-{}-{}", f[0], f[1], f[2]),
        "time": format!("{}:{}:{}", f[3], f[4], f[5]),
        "iso8601": format!("{utc_base}Z"),
        "iso8601_micro": format!("{utc_base}.{micros}Z"),
        "iso8601_basic": format!("{}{}{}T{}{}{}{micros}", f[0], f[1], f[2], f[3], f[4], f[5]),
        "iso8601_basic_short": format!("{}{}{}T{}{}{}", f[0], f[1], f[2], f[3], f[4], f[5]),
    });
    out.insert("date_time".into(), dt);
    Ok(())
}

/// The UTC calendar fields of a Unix time (Howard Hinnant's days-to-civil).
fn utc(epoch: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_fields_utc_forms_and_summer_time() {
        let mut p = Probe::default();
        p.cmds.insert(
            "date".into(),
            (
                0,
                "2026 12 07 02 56 11 978147123 1796608571 Monday 1 49 +0100 CET\n\
                 2026 01 01 00 00 00 000000000 1767222000 Thursday 4 00 +0100 CET\n\
                 2026 07 01 00 00 00 000000000 1782856800 Wednesday 3 26 +0200 CEST"
                    .into(),
            ),
        );
        let mut f = Map::new();
        date_time(&p, &mut f).unwrap();
        let d = &f["date_time"];
        assert_eq!(d["iso8601"], "2026-12-07T01:56:11Z");
        assert_eq!(d["iso8601_micro"], "2026-12-07T01:56:11.978147Z");
        assert_eq!(d["iso8601_basic"], "20261207T025611978147");
        assert_eq!(d["tz"], "CET");
        assert_eq!(d["tz_dst"], "CEST");
        assert_eq!(d["weekday"], "Monday");
        assert_eq!(d["epoch_int"], "1796608571");
        p.cmds
            .insert("date".into(), (0, "2026 12 07 nonsense".into()));
        let e = date_time(&p, &mut f).unwrap_err();
        assert!(e.to_string().contains("`date_time`"), "{e}");
        assert_eq!(utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc(951_782_400), (2000, 2, 29, 0, 0, 0));
    }
}
