//! The GTIDs the source has covered, stored with its offsets.
//!
//! MySQL: the executed set, `uuid:1-N[:M-K],…` (what `Executed_Gtid_Set` and
//! `gtid_executed` print), built from the snapshot point's set plus every
//! transaction read since. MariaDB: the GTID position, the last
//! `domain-server-sequence` per replication domain. Guarantee: the stored set
//! covers exactly the transactions before the stored binlog position, so a
//! server that has purged a transaction outside it (restored from a backup,
//! replaced behind the same address) is detected at start instead of being
//! streamed from with a silent gap.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidSet {
    /// MySQL: per source uuid, sorted disjoint inclusive intervals.
    mysql: BTreeMap<String, Vec<(u64, u64)>>,
    /// MariaDB: per domain, (server id, sequence) of the last transaction.
    mariadb: BTreeMap<u32, (u32, u64)>,
}

impl GtidSet {
    /// Parses a set as MySQL prints it, or a MariaDB GTID position.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut set = GtidSet::default();
        for part in text.split(',').map(|p| p.trim()).filter(|p| !p.is_empty()) {
            if let Some((uuid, intervals)) = part.split_once(':') {
                let mut ranges = Vec::new();
                for interval in intervals.split(':') {
                    let (a, b) = interval.split_once('-').unwrap_or((interval, interval));
                    let parse = |n: &str| n.parse::<u64>().map_err(|_| format!("bad GTID interval {interval:?} in {text:?}"));
                    ranges.push((parse(a)?, parse(b)?));
                }
                for (a, b) in ranges {
                    set.add_range(&uuid.to_ascii_lowercase(), a, b);
                }
            } else {
                set.add(part)?;
            }
        }
        Ok(set)
    }

    /// Adds one transaction's GTID: `uuid:n` (MySQL) or `domain-server-seq` (MariaDB).
    pub fn add(&mut self, gtid: &str) -> Result<(), String> {
        if let Some((uuid, n)) = gtid.rsplit_once(':') {
            let n: u64 = n.parse().map_err(|_| format!("bad GTID {gtid:?}"))?;
            self.add_range(&uuid.to_ascii_lowercase(), n, n);
            return Ok(());
        }
        let parts: Vec<&str> = gtid.split('-').collect();
        match parts.as_slice() {
            [d, s, n] => {
                let bad = || format!("bad GTID {gtid:?}");
                let entry = (s.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
                self.mariadb.insert(d.parse().map_err(|_| bad())?, entry);
                Ok(())
            }
            _ => Err(format!("bad GTID {gtid:?}")),
        }
    }

    fn add_range(&mut self, uuid: &str, a: u64, b: u64) {
        let ranges = self.mysql.entry(uuid.to_string()).or_default();
        ranges.push((a.min(b), a.max(b)));
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(a, b) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *ranges = merged;
    }

    /// Whether the transaction `gtid` (`uuid:n`, or MariaDB's
    /// `domain-server-seq`: at or below the domain's position) is in the set.
    pub fn contains(&self, gtid: &str) -> bool {
        if let Some((uuid, n)) = gtid.rsplit_once(':') {
            let Ok(n) = n.parse::<u64>() else { return false };
            return self.mysql.get(&uuid.to_ascii_lowercase()).is_some_and(|ranges| ranges.iter().any(|&(a, b)| (a..=b).contains(&n)));
        }
        match gtid.split('-').collect::<Vec<_>>().as_slice() {
            [d, _, n] => match (d.parse::<u32>(), n.parse::<u64>()) {
                (Ok(d), Ok(n)) => self.mariadb.get(&d).is_some_and(|&(_, last)| n <= last),
                _ => false,
            },
            _ => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.mysql.is_empty() && self.mariadb.is_empty()
    }

    /// Whether this is a MySQL set (as opposed to a MariaDB position).
    pub fn is_mysql(&self) -> bool {
        !self.mysql.is_empty()
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .mysql
            .iter()
            .map(|(uuid, ranges)| {
                let ranges: Vec<String> = ranges.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
                format!("{uuid}:{}", ranges.join(":"))
            })
            .collect();
        parts.extend(self.mariadb.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")));
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_sets_grow_and_print_as_mysql_does() {
        let mut set = GtidSet::parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7, 4e11fa47-71ca-11e1-9e33-c80aa9429562:1").unwrap();
        set.add("3e11fa47-71ca-11e1-9e33-c80aa9429562:6").unwrap();
        set.add("3e11fa47-71ca-11e1-9e33-c80aa9429562:9").unwrap();
        assert_eq!(set.to_string(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7:9,4e11fa47-71ca-11e1-9e33-c80aa9429562:1");
        assert_eq!(GtidSet::parse(&set.to_string()).unwrap(), set);
        assert!(set.is_mysql());
        assert!(set.contains("3E11FA47-71CA-11E1-9E33-C80AA9429562:7"));
        assert!(!set.contains("3e11fa47-71ca-11e1-9e33-c80aa9429562:8"));
        assert!(!set.contains("5e11fa47-71ca-11e1-9e33-c80aa9429562:1"));
    }

    #[test]
    fn mariadb_positions_keep_the_last_per_domain() {
        let mut set = GtidSet::parse("0-1-10").unwrap();
        set.add("0-1-11").unwrap();
        set.add("1-2-5").unwrap();
        assert_eq!(set.to_string(), "0-1-11,1-2-5");
        assert!(!set.is_mysql());
        assert!(set.contains("0-1-11") && set.contains("0-2-3") && !set.contains("0-1-12") && !set.contains("2-1-1"));
        assert!(GtidSet::parse("x").is_err());
    }
}
