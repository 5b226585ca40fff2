# orbit-bench plot: memory-over-time. Redraw with `gnuplot memory-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0 0.007813
0.303 5.417969
0.322 5.417969
EOD
$d1 << EOD
0 33.017616
0.303 45.152367
0.322 45.152367
EOD
$d2 << EOD
0 1
0.25 6
EOD
$d3 << EOD
0 22.231087
0.25 32.810646
EOD
$d4 << EOD
0 0.002045
0.311 4.002045
0.504 6.002045
EOD
$d5 << EOD
0 29.066231
0.311 38.628914
0.504 39.986702
EOD
$d6 << EOD
0 0.001694
0.153 7.266047
EOD
$d7 << EOD
0 43.082054
0.153 54.606438
EOD
$d8 << EOD
0 0
0.311 0
0.392 0
EOD
$d9 << EOD
0 34.67968
0.311 40.276161
0.392 40.276161
EOD
set encoding utf8
set termoption noenhanced
set title "Memory over time: the engine's own accounting (memtables, caches, indexes) and the process heap (jemalloc)\nrun 20261123-140717-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "memory (MiB)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set yrange [0:*]
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "memory-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.5 title "cow (none) engine memory", \
     $d1 using 1:2 with linespoints lc rgb "#1f77b4" dt 2 pt 2 lw 1.5 ps 0.5 title "cow (none) process heap", \
     $d2 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.5 title "lsm (none) engine memory", \
     $d3 using 1:2 with linespoints lc rgb "#2ca02c" dt 2 pt 2 lw 1.5 ps 0.5 title "lsm (none) process heap", \
     $d4 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.5 title "rocksdb (none) engine memory", \
     $d5 using 1:2 with linespoints lc rgb "#d62728" dt 2 pt 2 lw 1.5 ps 0.5 title "rocksdb (none) process heap", \
     $d6 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.5 title "memory (none) engine memory", \
     $d7 using 1:2 with linespoints lc rgb "#7f7f7f" dt 2 pt 2 lw 1.5 ps 0.5 title "memory (none) process heap", \
     $d8 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.5 title "lmdb (none) engine memory", \
     $d9 using 1:2 with linespoints lc rgb "#9467bd" dt 2 pt 2 lw 1.5 ps 0.5 title "lmdb (none) process heap"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "memory-over-time.svg"
replot
unset output
