//! Every experiment runs end to end at tiny sizes and writes its table, plot and recording.
//! (The numbers at these sizes mean nothing; the mechanisms are tested in the library's unit
//! tests.)

use std::path::Path;

use trajrnn::experiments::{self, Experiment, Options};

#[test]
fn every_experiment_runs_quick_and_writes_its_files() {
    let dir = crate::common::tempdir();
    let mut options = Options::bundled(Path::new(env!("CARGO_MANIFEST_DIR")), dir.path().join("out"));
    options.quick = true;
    let device = crate::common::device();
    for e in Experiment::ALL {
        let report = experiments::run(e, &options, &device).unwrap();
        assert!(report.text.contains("Experiment"), "{e}: {}", report.text);
        let png = dir.path().join("out").join(format!("{e}.png"));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.len() > 10_000 && &bytes[1..4] == b"PNG", "{e}: {} bytes", bytes.len());
        assert!(report.files.contains(&png));
        #[cfg(feature = "rerun")]
        if e == Experiment::Probes {
            let rrd = dir.path().join("out/probes.rrd");
            assert!(std::fs::metadata(&rrd).unwrap().len() > 10_000, "the recording holds the episode");
        }
    }
}

#[test]
fn unknown_experiment_names_list_the_known_ones() {
    let e = "memroy".parse::<Experiment>().unwrap_err().to_string();
    assert!(e.contains("memroy") && e.contains("hidden-size") && e.contains("probes"), "{e}");
    assert_eq!("long_range".parse::<Experiment>().unwrap(), Experiment::LongRange);
}

#[test]
fn a_dataset_without_phases_is_refused_by_name() {
    let dir = crate::common::tempdir();
    let mut options = Options::bundled(Path::new(env!("CARGO_MANIFEST_DIR")), dir.path().join("out"));
    options.synthetic = crate::common::bundled("panda");
    options.quick = true;
    let e = experiments::run(Experiment::Memory, &options, &crate::common::device()).unwrap_err().to_string();
    assert!(e.contains("no phase labels"), "{e}");
}

/// Columns that hold measured times: they differ from run to run.
const TIMING_COLUMNS: [&str; 2] = ["s/epoch", "stream µs"];

/// `text` with the cells of timing columns replaced by `~` (tables are columns separated by
/// two spaces or more in the header, one value per column in each row, up to a blank line).
fn without_timings(text: &str) -> String {
    let mut out = vec![];
    let mut timing: Vec<usize> = vec![];
    for line in text.lines() {
        if line.trim().is_empty() {
            timing.clear();
            out.push(line.to_string());
        } else if !timing.is_empty() && !line.starts_with('-') {
            let cells: Vec<&str> =
                line.split_whitespace().enumerate().map(|(i, c)| if timing.contains(&i) { "~" } else { c }).collect();
            out.push(cells.join(" "));
        } else {
            let header: Vec<&str> = line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
            if timing.is_empty() {
                timing = (0..header.len()).filter(|&i| TIMING_COLUMNS.contains(&header[i])).collect();
            }
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

/// The tables of `docs/fundamentals.md` are what the commands print, measured times aside (full
/// sizes, minutes):
///
///     cargo test --test it -- --ignored fundamentals_doc_is_what_the_commands_print
///
/// With `TRAJRNN_WRITE_DOC=1` it writes the commands' output into the document instead of
/// failing (the readings around the tables are then to be checked by hand); with
/// `TRAJRNN_EXPERIMENTS_OUT=DIR` it keeps the plots there.
#[test]
#[ignore = "runs every experiment at full size (minutes)"]
fn fundamentals_doc_is_what_the_commands_print() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc_path = root.join("docs/fundamentals.md");
    let mut doc = std::fs::read_to_string(&doc_path).unwrap();
    let dir = crate::common::tempdir();
    let out = std::env::var_os("TRAJRNN_EXPERIMENTS_OUT").map_or_else(|| dir.path().join("out"), Into::into);
    let options = Options::bundled(root, out);
    let device = crate::common::device();
    let write = std::env::var_os("TRAJRNN_WRITE_DOC").is_some();
    let mut stale = vec![];
    for e in Experiment::ALL {
        // As `trajrnn experiment all` prints it (its default output folder).
        let printed = experiments::run(e, &options, &device).unwrap().text;
        let printed = printed.replace(&options.out_dir.display().to_string(), "experiments");
        // The table is the first code block after the line that names the command.
        let command = format!("\n`trajrnn experiment {e}`\n");
        let at = doc.find(&command).unwrap_or_else(|| panic!("docs/fundamentals.md has no `trajrnn experiment {e}`"));
        let open = at + doc[at..].find("```\n").expect("a code block after the command") + 4;
        let close = open + doc[open..].find("```").expect("the code block's end");
        if without_timings(doc[open..close].trim_end()) != without_timings(printed.trim_end()) {
            stale.push(e.to_string());
            doc.replace_range(open..close, &format!("{}\n", printed.trim_end()));
        }
    }
    if write {
        std::fs::write(&doc_path, doc).unwrap();
    } else {
        assert!(stale.is_empty(), "docs/fundamentals.md differs from what these print: {stale:?}");
    }
}
