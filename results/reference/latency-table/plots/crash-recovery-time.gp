# orbit-bench plot: crash-recovery-time. Redraw with `gnuplot crash-recovery-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
22.190184 939.557
22.918612 794.96
22.44589 842.066
EOD
$d1 << EOD
22.19541 489.856
22.231122 499.696
22.400881 444.905
EOD
$d2 << EOD
18.832712 1364.875
19.498657 946.014
19.834682 742.894
EOD
$d3 << EOD
26.878906 10.215
26.445313 11.001
25.660156 13.425
EOD
set encoding utf8
set termoption noenhanced
set title "Crash recovery time against store size\nrun 20261123-141245-latency-table · workload latency-table · legend: backend (durability mode)\nrecovery = from the start of the reopen until the first read is served (crash.csv)"
set xlabel "store size on disk (MiB)" offset 0,0.4
set ylabel "recovery time (ms)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set xrange [0:*]
set yrange [0:*]
set offsets 0, graph 0.05, graph 0.05, 0
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "crash-recovery-time.png"
plot $d0 using 1:2 with points lc rgb "#1f77b4" dt 1 pt 2 lw 1.5 ps 1.6 title "cow (none) kill", \
     $d1 using 1:2 with points lc rgb "#2ca02c" dt 1 pt 2 lw 1.5 ps 1.6 title "lsm (none) kill", \
     $d2 using 1:2 with points lc rgb "#d62728" dt 1 pt 2 lw 1.5 ps 1.6 title "rocksdb (none) kill", \
     $d3 using 1:2 with points lc rgb "#9467bd" dt 1 pt 2 lw 1.5 ps 1.6 title "lmdb (none) kill"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "crash-recovery-time.svg"
replot
unset output
