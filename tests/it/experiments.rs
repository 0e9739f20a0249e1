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
