//! MariaDB's own binlog events, which `mysql_common` does not know (types
//! 160–171). GTID (162) is parsed here; annotate-rows (160), binlog
//! checkpoint (161) and GTID list (163) carry nothing a change needs and are
//! skipped; the rest (start-encryption, compressed query/rows events) would
//! hide row data from us, so they stop the source with an explanation rather
//! than lose rows.

pub const ANNOTATE_ROWS: u8 = 160;
pub const BINLOG_CHECKPOINT: u8 = 161;
pub const GTID: u8 = 162;
pub const GTID_LIST: u8 = 163;

/// What to do with a MariaDB-specific event type.
#[derive(Debug, PartialEq, Eq)]
pub enum MariaEvent {
    Gtid(MariaGtid),
    Skip,
    /// Not a MariaDB-specific type: let `mysql_common` read it.
    NotMaria,
}

/// A MariaDB GTID event: `domain-server-sequence`; `standalone` means no BEGIN/COMMIT follows (DDL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariaGtid {
    pub domain: u32,
    pub server_id: u32,
    pub sequence: u64,
    pub standalone: bool,
    /// `FL_PREPARED_XA`: the transaction is the prepared part of an XA transaction (its `XA START`).
    pub xa_prepared: bool,
}

impl MariaGtid {
    pub fn text(&self) -> String {
        format!("{}-{}-{}", self.domain, self.server_id, self.sequence)
    }
}

/// Classifies event type `kind` with body `data` (after the common header, before the checksum).
pub fn classify(kind: u8, server_id: u32, data: &[u8]) -> Result<MariaEvent, String> {
    match kind {
        GTID => {
            if data.len() < 13 {
                return Err(format!("MariaDB GTID event of {} bytes is too short", data.len()));
            }
            let sequence = u64::from_le_bytes(data[0..8].try_into().expect("8 bytes"));
            let domain = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
            let flags = data[12];
            Ok(MariaEvent::Gtid(MariaGtid {
                domain,
                server_id,
                sequence,
                standalone: flags & 0x01 != 0,
                xa_prepared: flags & 0x40 != 0,
            }))
        }
        ANNOTATE_ROWS | BINLOG_CHECKPOINT | GTID_LIST => Ok(MariaEvent::Skip),
        164 => Err("the binlog is encrypted (MariaDB START_ENCRYPTION event): the source cannot read encrypted binlogs; \
                    turn off encrypt_binlog or read from a replica without it"
            .into()),
        165..=171 => Err(format!(
            "MariaDB compressed binlog event (type {kind}): rows inside it cannot be read; set log_bin_compress=OFF on the server"
        )),
        _ => Ok(MariaEvent::NotMaria),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_event_is_parsed() {
        let mut data = 42u64.to_le_bytes().to_vec();
        data.extend(7u32.to_le_bytes());
        data.push(1);
        assert_eq!(
            classify(GTID, 3, &data).unwrap(),
            MariaEvent::Gtid(MariaGtid {
                domain: 7,
                server_id: 3,
                sequence: 42,
                standalone: true,
                xa_prepared: false
            })
        );
        assert_eq!(classify(GTID, 3, &data).map(|e| matches!(e, MariaEvent::Gtid(g) if g.text() == "7-3-42")), Ok(true));
        assert!(classify(GTID, 3, &data[..5]).is_err());
        assert_eq!(classify(ANNOTATE_ROWS, 1, &[]), Ok(MariaEvent::Skip));
        assert!(classify(166, 1, &[]).unwrap_err().contains("log_bin_compress=OFF"));
        assert_eq!(classify(30, 1, &[]), Ok(MariaEvent::NotMaria));
    }
}
