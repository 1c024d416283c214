//! XA transactions in the binlog. Both servers write the prepared part as a
//! transaction of its own, ended by an XA_PREPARE event carrying the XID, and
//! the outcome later as `XA COMMIT <xid>` / `XA ROLLBACK <xid>`, with the XID
//! rendered `X'<gtrid hex>',X'<bqual hex>',<formatID>`. This module turns both
//! into one comparable XID text.

/// An XA statement the reader must understand (all others are left to the caller).
#[derive(Debug, PartialEq, Eq)]
pub enum Statement {
    /// `XA START …` (MySQL writes it; MariaDB flags its GTID event instead).
    Start,
    /// `XA END …`: nothing to do.
    End,
    /// `XA COMMIT <xid>` or `XA ROLLBACK <xid>` of a prepared transaction.
    Finish { xid: String, commit: bool },
}

/// Recognises an XA statement of a query event.
pub fn statement(text: &str) -> Option<Statement> {
    let text = text.trim_start();
    let upper = text.get(..12).unwrap_or(text).to_ascii_uppercase();
    let rest = |keyword: &str| text[keyword.len()..].trim();
    if upper.starts_with("XA START") || upper.starts_with("XA BEGIN") {
        Some(Statement::Start)
    } else if upper.starts_with("XA END") {
        Some(Statement::End)
    } else if upper.starts_with("XA COMMIT") {
        let xid = rest("XA COMMIT");
        let xid = strip_suffix_ignore_case(xid, "ONE PHASE").unwrap_or(xid).trim();
        Some(Statement::Finish { xid: normalize(xid), commit: true })
    } else if upper.starts_with("XA ROLLBACK") {
        Some(Statement::Finish {
            xid: normalize(rest("XA ROLLBACK")),
            commit: false,
        })
    } else {
        None
    }
}

/// The XID and one-phase flag of an XA_PREPARE event body:
/// one_phase (1 byte), formatID (4, LE), gtrid length (4), bqual length (4), gtrid, bqual.
pub fn prepared(body: &[u8]) -> Result<(String, bool), String> {
    let short = || format!("XA_PREPARE event of {} bytes is too short", body.len());
    let word = |at: usize| body.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).ok_or_else(short);
    let one_phase = *body.first().ok_or_else(short)? != 0;
    let format_id = word(1)? as i32;
    let (gtrid_len, bqual_len) = (word(5)? as usize, word(9)? as usize);
    let gtrid = body.get(13..13 + gtrid_len).ok_or_else(short)?;
    let bqual = body.get(13 + gtrid_len..13 + gtrid_len + bqual_len).ok_or_else(short)?;
    Ok((normalize(&format!("X'{}',X'{}',{format_id}", hex(gtrid), hex(bqual))), one_phase))
}

/// One spelling for an XID: no spaces, upper-case hex.
fn normalize(xid: &str) -> String {
    xid.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    text.get(cut..).filter(|tail| tail.eq_ignore_ascii_case(suffix)).map(|_| &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_and_prepare_events_name_the_same_xid() {
        assert_eq!(statement("XA START X'7831',X'',1"), Some(Statement::Start));
        assert_eq!(statement("  XA END 'x'"), Some(Statement::End));
        assert_eq!(statement("XA END X'7831',X'',1"), Some(Statement::End));
        let commit = statement("XA COMMIT X'7a31',X'',1");
        let one_phase = statement("xa commit X'7a31',X'',1 ONE PHASE");
        let rollback = statement("XA ROLLBACK X'7a31',X'',1");
        let mut body = vec![0u8];
        body.extend(1i32.to_le_bytes());
        body.extend(2u32.to_le_bytes());
        body.extend(0u32.to_le_bytes());
        body.extend(b"z1");
        let (xid, one) = prepared(&body).unwrap();
        assert!(!one);
        assert_eq!(commit, Some(Statement::Finish { xid: xid.clone(), commit: true }));
        assert_eq!(one_phase, Some(Statement::Finish { xid: xid.clone(), commit: true }));
        assert_eq!(rollback, Some(Statement::Finish { xid, commit: false }));
        assert_eq!(statement("ALTER TABLE t ADD c INT"), None);
        assert!(prepared(&body[..10]).is_err());
    }
}
