//! What every connector does to a site request's answer before it leaves the site, whatever
//! read it: no NUL in any text (the admin center refuses them), a script's output cut at its
//! bound, and rows dropped from the largest tables until the answer fits the admin center's bound
//! (each table keeps `rowCount`, so the page says how many were left out).

use admin_api::site_requests::{Table, MAX_ANSWER_BYTES, MAX_SCRIPT_OUTPUT};
use admin_api::SiteAnswer;

/// The answer made fit to send (see the module's description).
pub fn fit(mut answer: SiteAnswer) -> SiteAnswer {
    fit_within(&mut answer, MAX_ANSWER_BYTES);
    answer
}

fn fit_within(answer: &mut SiteAnswer, bound: usize) {
    for table in tables(answer) {
        for cell in table.rows.iter_mut().flatten().flatten() {
            clean(cell);
        }
    }
    if let SiteAnswer::RunScript(run) = answer {
        clean(&mut run.output);
        if run.output.len() > MAX_SCRIPT_OUTPUT {
            let mut end = MAX_SCRIPT_OUTPUT;
            while !run.output.is_char_boundary(end) {
                end -= 1;
            }
            run.output.truncate(end);
            run.truncated = true;
        }
    }
    // Drop rows from the largest table, in proportion to how far over the bound the answer is,
    // until the whole fits.
    loop {
        let over = size(answer);
        if over <= bound {
            return;
        }
        let mut tables = tables(answer);
        let Some(largest) = tables
            .iter_mut()
            .filter(|table| !table.rows.is_empty())
            .max_by_key(|table| table.rows.len())
        else {
            return;
        };
        let rows = largest.rows.len();
        let excess = over - bound;
        // The table's share of the answer, per row, approximated by the whole's.
        let per_row = (over / rows).max(1);
        let drop = (excess / per_row + 1).clamp(1, rows);
        largest.rows.truncate(rows - drop);
    }
}

fn size(answer: &SiteAnswer) -> usize {
    serde_json::to_vec(answer).map_or(usize::MAX, |json| json.len())
}

fn tables(answer: &mut SiteAnswer) -> Vec<&mut Table> {
    match answer {
        SiteAnswer::Inventory(inventory) => inventory
            .classes
            .iter_mut()
            .map(|class| &mut class.table)
            .collect(),
        SiteAnswer::CmPivot(result) => vec![&mut result.table],
        _ => Vec::new(),
    }
}

fn clean(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use admin_api::site_requests::{Inventory, InventoryClass, ScriptOutput};

    fn table(rows: usize, width: usize) -> Table {
        Table {
            columns: vec!["Name".into(), "Value".into()],
            rows: (0..rows)
                .map(|i| vec![Some(format!("row {i}")), Some("x".repeat(width))])
                .collect(),
            row_count: rows as u64,
        }
    }

    #[test]
    fn the_largest_tables_lose_rows_until_the_answer_fits_and_say_how_many_there_were() {
        let mut answer = SiteAnswer::Inventory(Inventory {
            last_scan_date_time: None,
            classes: vec![
                InventoryClass {
                    class_name: "SMS_G_System_INSTALLED_SOFTWARE".into(),
                    display_name: "Installed Software".into(),
                    table: table(5_000, 100),
                },
                InventoryClass {
                    class_name: "SMS_G_System_PC_BIOS".into(),
                    display_name: "PC BIOS".into(),
                    table: table(1, 20),
                },
            ],
        });
        fit_within(&mut answer, 100_000);
        assert!(size(&answer) <= 100_000);
        assert!(
            size(&answer) > 90_000,
            "cut no more than needed: {}",
            size(&answer)
        );
        let SiteAnswer::Inventory(inventory) = answer else {
            unreachable!()
        };
        let software = &inventory.classes[0].table;
        assert!(software.is_truncated());
        assert_eq!(software.row_count, 5_000);
        assert!(software.rows.len() > 100, "{}", software.rows.len());
        assert!(!inventory.classes[1].table.is_truncated());
    }

    #[test]
    fn a_scripts_output_is_cut_at_its_bound_on_a_character_and_nul_is_replaced() {
        let mut output = "é".repeat(MAX_SCRIPT_OUTPUT);
        output.insert(0, '\0');
        let answer = fit(SiteAnswer::RunScript(ScriptOutput {
            script_name: "Big".into(),
            exit_code: Some(0),
            output,
            truncated: false,
        }));
        let SiteAnswer::RunScript(run) = answer else {
            unreachable!()
        };
        assert!(run.truncated);
        assert!(run.output.len() <= MAX_SCRIPT_OUTPUT);
        assert!(run.output.starts_with('\u{FFFD}'));
        assert!(!run.output.contains('\0'));
    }
}
