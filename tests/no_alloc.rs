//! The streaming predictor allocates nothing per frame (its own test binary, because it
//! installs a counting global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use trajrnn::Predictor;
use trajrnn::baselines::{BaselineConfig, Baselines};
use trajrnn::checkpoint::DataInfo;
use trajrnn::data::{ChannelRole, Dataset, DatasetMeta, Episode, Segment};
use trajrnn::encoding::{Encoding, EncodingConfig};
use trajrnn::model::{CellKind, ModelConfig};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn streaming_allocates_nothing_per_frame() {
    let dim = 9;
    // An encoding fitted on smooth motion, with the default linear base (its maps are what a
    // streamed frame goes through).
    let frames = 400;
    let states: Vec<f32> =
        (0..frames * dim).map(|i| ((i / dim) as f32 * 0.01 * (1.0 + (i % dim) as f32 * 0.1)).sin()).collect();
    let time: Vec<f64> = (0..frames).map(|t| t as f64 * 0.01).collect();
    let names: Vec<String> = (0..dim).map(|c| format!("q{c}")).collect();
    let meta = DatasetMeta::new("test", "test", 100.0, names, vec![]);
    let ds = Dataset::new(meta, vec![Episode::new("e0", "e0", time, states, dim)], "mem".as_ref()).unwrap();
    let segments = [Segment::whole(&ds, 0)];
    let baselines = Baselines::fit(&ds, &segments, &BaselineConfig::default()).unwrap();
    let encoding = Encoding::fit(&ds, &segments, EncodingConfig::default(), &baselines).unwrap();
    let data = DataInfo {
        dataset: "test".into(),
        robot: "test".into(),
        channels: (0..dim).map(|c| format!("q{c}")).collect(),
        roles: vec![ChannelRole::Joint; dim],
        rate_hz: 100.0,
        resample: false,
        commands: vec![],
    };
    let device = trajrnn::Backend::default_cpu_device().unwrap();
    for cell in CellKind::ALL {
        let config = ModelConfig {
            cell,
            input_dim: encoding.input_dim(),
            hidden: 128,
            layers: 2,
            output_dim: dim,
            dropout: 0.0,
            zero_head: false,
            members: 1,
        };
        let model = config.init(&device, 0);
        let mut predictor = Predictor::from_model(&model, encoding.clone(), data.clone());
        let frames: Vec<Vec<f32>> =
            (0..1000).map(|t| (0..dim).map(|c| (t as f32 * 0.01 + c as f32).sin()).collect()).collect();
        for f in &frames[..10] {
            predictor.observe(f).unwrap();
        }
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let mut checksum = 0f32;
        for f in &frames[10..] {
            checksum += predictor.observe(f).unwrap().expect("warmed up")[0];
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert!(checksum.is_finite());
        assert_eq!(after - before, 0, "{cell}: {} allocations in 990 frames", after - before);
    }
}
