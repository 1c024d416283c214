//! The file name of a ROTATE event, never cut by guesswork.
//!
//! Before the format description, a dump starts with an artificial ROTATE
//! naming the file. `mysql_common` 0.37 cannot know yet whether events carry
//! a CRC32, so when one is there it is left on the end of the name. Neither
//! the server's `binlog_checksum` setting nor the event's size tells: MySQL
//! 9.x sends this event without a checksum even with `binlog_checksum=CRC32`,
//! and MariaDB sends one even with `binlog_checksum=NONE` (both seen in the
//! tests). So the event decides: the trailing four bytes are removed exactly
//! when they are the CRC32 of the event before them (the header and the body
//! up to them) — the chance that four characters of a real name match is
//! 2⁻³². The checksum bytes can be anything, digits and dots included, so
//! nothing looks at them as characters.

/// Header of every v4 binlog event: timestamp, type, server id, size, next position, flags.
pub const HEADER_LEN: usize = 19;

/// The name in a ROTATE event whose header serialises to `header` and whose
/// body (position, name and maybe a checksum) is `body`.
pub fn rotate_name(header: &[u8], body: &[u8]) -> String {
    let raw = body.get(8..).unwrap_or_default();
    let name = if raw.len() > 4 && carries_checksum(header, body) { &raw[..raw.len() - 4] } else { raw };
    String::from_utf8_lossy(name).into_owned()
}

/// The event's last four bytes are the CRC32 (little-endian) of everything before them.
fn carries_checksum(header: &[u8], body: &[u8]) -> bool {
    let Some((content, stored)) = body.split_last_chunk::<4>() else { return false };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(content);
    hasher.finalize() == u32::from_le_bytes(*stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ROTATE event as a server writes it: header, position 4, name, CRC32 if `checksum`.
    fn event(name: &[u8], checksum: bool) -> (Vec<u8>, Vec<u8>) {
        let mut body = 4u64.to_le_bytes().to_vec();
        body.extend_from_slice(name);
        let size = (HEADER_LEN + body.len() + if checksum { 4 } else { 0 }) as u32;
        let mut header = vec![0u8; 4];
        header.push(4); // ROTATE_EVENT
        header.extend(1u32.to_le_bytes());
        header.extend(size.to_le_bytes());
        header.extend(0u32.to_le_bytes());
        header.extend(0x20u16.to_le_bytes()); // LOG_EVENT_ARTIFICIAL_F
        if checksum {
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&header);
            hasher.update(&body);
            body.extend(hasher.finalize().to_le_bytes());
        }
        (header, body)
    }

    #[test]
    fn the_checksum_is_cut_only_when_it_is_one() {
        // MariaDB (with or without binlog_checksum): the CRC is on the event and comes off.
        let (header, body) = event(b"mariadb-bin.000001", true);
        assert_eq!(rotate_name(&header, &body), "mariadb-bin.000001");
        // MySQL 9.x: the artificial ROTATE has none: the name is whole.
        let (header, body) = event(b"binlog.000002", false);
        assert_eq!(rotate_name(&header, &body), "binlog.000002");
    }

    #[test]
    fn checksum_bytes_that_look_like_a_name_are_still_cut() {
        // Find a name whose checksum's first byte is a digit or a dot (as seen in CI: 'mariadb-bin.0000014').
        let found = (1..10_000).find_map(|n| {
            let name = format!("mariadb-bin.{n:06}");
            let (header, body) = event(name.as_bytes(), true);
            let crc = &body[body.len() - 4..];
            (crc[0].is_ascii_digit() || crc[0] == b'.').then_some((name, header, body))
        });
        let (name, header, body) = found.expect("some checksum starts with a digit");
        assert_eq!(rotate_name(&header, &body), name);
    }
}
