//! SONiC's table style: Python `tabulate`'s "simple" format as sonic-utilities prints it
//! (`tabulate(body, header, disable_numparse=True)`): every column left-aligned and as wide as
//! its widest cell or its header plus two, columns separated by two spaces, a line of dashes
//! under the header, trailing blanks removed from every line.

/// A table: a header and rows of cells (a short row is padded with empty cells).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header and no rows.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as tabulate prints it, each line ending in a newline.
    pub fn render(&self) -> String {
        // tabulate's MIN_PADDING: a header gets two more columns than its text.
        let width = |i: usize| -> usize {
            let header = self.header.get(i).map_or(0, |h| h.chars().count() + 2);
            self.rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .fold(header, usize::max)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |cells: &[String]| -> String {
            let padded: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let c = cells.get(i).map_or("", String::as_str);
                    format!("{c:<w$}")
                })
                .collect();
            let mut l = padded.join("  ").trim_end().to_owned();
            l.push('\n');
            l
        };
        let mut out = line(&self.header);
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&dashes));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// Sorts names as Python's `natsort.natsorted` does for feature names: runs of digits compare
/// as numbers (`bgp2` < `bgp10`), everything else as text.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, sa), (db, sb)) in ca.iter().zip(cb.iter()) {
        let ord = if *da && *db {
            let (ta, tb) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sonic-utilities' tests/kube_test.py, `non_empty_server_status`.
    #[test]
    fn renders_like_tabulate_simple() {
        let mut t = Table::new(["ip", "port", "connected", "update-time"]);
        t.row(["10.3.157.24", "6443", "false", "2020-11-13 00:49:05"]);
        assert_eq!(
            t.render(),
            "ip           port    connected    update-time\n\
             -----------  ------  -----------  -------------------\n\
             10.3.157.24  6443    false        2020-11-13 00:49:05\n"
        );
    }

    /// tests/kube_test.py, `empty_labels`.
    #[test]
    fn an_empty_table_is_its_header_and_dashes() {
        assert_eq!(
            Table::new(["name", "value"]).render(),
            "name    value\n------  -------\n"
        );
    }

    /// tests/feature_test.py, `show_feature_snmp_config_fallback_output`.
    #[test]
    fn feature_config_row() {
        let mut t = Table::new(["Feature", "State", "AutoRestart", "Owner", "fallback"]);
        t.row(["snmp", "enabled", "enabled", "kube", "false"]);
        assert_eq!(
            t.render(),
            "Feature    State    AutoRestart    Owner    fallback\n\
             ---------  -------  -------------  -------  ----------\n\
             snmp       enabled  enabled        kube     false\n"
        );
    }

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        let mut v = vec!["bgp10", "bgp2", "acms", "bgp", "dhcp_relay"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["acms", "bgp", "bgp2", "bgp10", "dhcp_relay"]);
    }
}
